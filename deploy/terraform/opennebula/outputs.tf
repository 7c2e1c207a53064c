output "control_plane_ips" {
  description = "Primary IP of each control-plane node."
  value       = opennebula_virtual_machine.control_plane[*].ip
}

output "worker_ips" {
  description = "Primary IP of each worker."
  value       = opennebula_virtual_machine.worker[*].ip
}

output "kubespray_inventory" {
  description = "Kubespray inventory (INI): terraform output -raw kubespray_inventory > <kubespray>/inventory/gantry/inventory.ini"
  value = templatefile("${path.module}/templates/inventory.ini.tftpl", {
    ssh_user = var.ssh_user
    control_plane = [for i, vm in opennebula_virtual_machine.control_plane : {
      name  = vm.name
      ip    = vm.ip
      index = i + 1
    }]
    workers = [for vm in opennebula_virtual_machine.worker : {
      name = vm.name
      ip   = vm.ip
    }]
  })
}

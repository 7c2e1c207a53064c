# Control-plane and worker VMs for a Kubespray cluster on OpenNebula.
# Never applied against a real OpenNebula in Gantry's tests (none is
# reachable there); see docs/deploy/infrastructure.md.

provider "opennebula" {
  endpoint = var.one_endpoint
  username = var.one_username
  password = var.one_password
  insecure = var.one_insecure
}

data "opennebula_image" "os" {
  count = var.image_id == null ? 1 : 0
  name  = var.image_name
}

locals {
  image_id = var.image_id != null ? var.image_id : tonumber(data.opennebula_image.os[0].id)

  # OpenNebula contextualization: network from the virtual network, the
  # VM name as hostname, and the SSH key for Kubespray.
  context = {
    NETWORK        = "YES"
    SET_HOSTNAME   = "$NAME"
    SSH_PUBLIC_KEY = var.ssh_public_key
  }
}

resource "opennebula_virtual_machine" "control_plane" {
  count = var.control_plane_count

  name   = format("%s-cp-%d", var.cluster_name, count.index + 1)
  cpu    = var.cpu_share * var.control_plane_vcpu
  vcpu   = var.control_plane_vcpu
  memory = var.control_plane_memory_mb

  context = local.context

  os {
    arch = "x86_64"
    boot = "disk0"
  }

  disk {
    image_id = local.image_id
    size     = var.control_plane_disk_mb
    target   = "vda"
  }

  nic {
    network_id      = var.network_id
    model           = "virtio"
    security_groups = var.security_group_ids
  }

  tags = {
    cluster = var.cluster_name
    role    = "control-plane"
  }

  lifecycle {
    precondition {
      condition     = (var.image_id == null) != (var.image_name == null)
      error_message = "Set exactly one of image_id and image_name."
    }
  }
}

resource "opennebula_virtual_machine" "worker" {
  count = var.worker_count

  name   = format("%s-worker-%d", var.cluster_name, count.index + 1)
  cpu    = var.cpu_share * var.worker_vcpu
  vcpu   = var.worker_vcpu
  memory = var.worker_memory_mb

  context = local.context

  os {
    arch = "x86_64"
    boot = "disk0"
  }

  disk {
    image_id = local.image_id
    size     = var.worker_disk_mb
    target   = "vda"
  }

  nic {
    network_id      = var.network_id
    model           = "virtio"
    security_groups = var.security_group_ids
  }

  tags = {
    cluster = var.cluster_name
    role    = "worker"
  }
}

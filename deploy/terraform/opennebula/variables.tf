# OpenNebula access. Pass the password (or a login token) through the
# environment, never in a committed file:
#   export TF_VAR_one_password='...'
variable "one_endpoint" {
  description = "OpenNebula XML-RPC endpoint, e.g. https://one.example.org:2633/RPC2."
  type        = string
}

variable "one_username" {
  description = "OpenNebula user that owns the VMs."
  type        = string
  sensitive   = true
}

variable "one_password" {
  description = "Password or login token of one_username."
  type        = string
  sensitive   = true
}

variable "one_insecure" {
  description = "Skip TLS verification of the endpoint (only for a lab with a self-signed certificate)."
  type        = bool
  default     = false
}

# The cluster.
variable "cluster_name" {
  description = "Prefix of every VM name and the Kubespray node names."
  type        = string
  default     = "gantry"

  validation {
    condition     = can(regex("^[a-z][a-z0-9-]{0,30}[a-z0-9]$", var.cluster_name))
    error_message = "cluster_name must be a DNS label: lowercase letters, digits and '-', 2 to 32 characters."
  }
}

variable "control_plane_count" {
  description = "Control-plane nodes; they also run etcd, so 1, 3 or 5."
  type        = number
  default     = 3

  validation {
    condition     = contains([1, 3, 5], var.control_plane_count)
    error_message = "etcd needs an odd number of members: use 1, 3 or 5 control-plane nodes."
  }
}

variable "control_plane_vcpu" {
  description = "Virtual CPUs of each control-plane node."
  type        = number
  default     = 2
}

variable "control_plane_memory_mb" {
  description = "Memory of each control-plane node, in MB (Kubespray requires at least 1500)."
  type        = number
  default     = 4096
}

variable "control_plane_disk_mb" {
  description = "Size of each control-plane node's system disk, in MB."
  type        = number
  default     = 40960
}

variable "worker_count" {
  description = "Worker nodes (Gantry's pods run here)."
  type        = number
  default     = 2

  validation {
    condition     = var.worker_count >= 1
    error_message = "At least one worker is needed."
  }
}

variable "worker_vcpu" {
  description = "Virtual CPUs of each worker."
  type        = number
  default     = 4
}

variable "worker_memory_mb" {
  description = "Memory of each worker, in MB (Kubespray requires at least 1024)."
  type        = number
  default     = 8192
}

variable "worker_disk_mb" {
  description = "Size of each worker's system disk, in MB."
  type        = number
  default     = 81920
}

variable "cpu_share" {
  description = "OpenNebula CPU (the physical share reserved per virtual CPU, 0.1 to 1)."
  type        = number
  default     = 0.5
}

# What the VMs boot and attach to.
variable "image_id" {
  description = "ID of the OS image (Ubuntu 24.04 or Debian 12 with OpenNebula contextualization). Set this or image_name."
  type        = number
  default     = null
}

variable "image_name" {
  description = "Name of the OS image, looked up when image_id is not set."
  type        = string
  default     = null
}

variable "network_id" {
  description = "ID of the virtual network the nodes attach to; MetalLB's address pool must be free addresses on it."
  type        = number
}

variable "security_group_ids" {
  description = "Security groups on the nodes' NIC (empty: the network's default)."
  type        = list(number)
  default     = []
}

variable "ssh_public_key" {
  description = "Public key put on every node through OpenNebula contextualization; Kubespray connects with its private half."
  type        = string
}

variable "ssh_user" {
  description = "User Kubespray connects as (root for OpenNebula marketplace images; the image's default user otherwise)."
  type        = string
  default     = "root"
}

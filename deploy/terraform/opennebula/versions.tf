terraform {
  # OpenTofu 1.6+ reads this module too.
  required_version = ">= 1.5.0"

  required_providers {
    opennebula = {
      source  = "OpenNebula/opennebula"
      version = "~> 1.5"
    }
  }
}

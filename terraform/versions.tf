# Exact pins: `terraform init` must resolve the same provider on every machine. Upgrade by
# editing these numbers in a reviewed change (and committing the resulting .terraform.lock.hcl).
terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source  = "hashicorp/aws"
      version = "5.94.1"
    }
  }
}

provider "aws" {
  region = var.aws_region

  default_tags {
    tags = {
      Project   = "schemahub"
      ManagedBy = "terraform"
    }
  }
}

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = var.aws_region

  # Fixed layout inside the one data bucket; IAM grants are per prefix, so these are the
  # boundaries of least privilege (see identity.tf).
  lake_prefix   = "lake"
  state_prefix  = "meltano-state"
  athena_prefix = "athena-results"
}

terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Same constraint in every AWS module so that one root module can use them all.
      version = "~> 5.81"
    }
  }
}

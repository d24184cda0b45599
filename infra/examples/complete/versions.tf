terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    aws = {
      source = "hashicorp/aws"
      # Exactly the version whose schema tests/infra/test_provider_schema.py checks every block against
      # (tools/provider-schemas/package.json); bump both together. Same pin in every module.
      version = "5.99.1"
    }
    github = {
      source = "integrations/github"
      # Exactly the version whose schema tests/infra/test_provider_schema.py checks every block against
      # (tools/provider-schemas/package.json); bump both together. Same pin in every module.
      version = "6.9.0"
    }
  }

  # One state per environment: `terraform init -backend-config=../../environments/<env>.s3.tfbackend`
  # (infra-ci.yml does exactly that).
  backend "s3" {}
}

provider "aws" {
  region = var.aws_region
  default_tags {
    tags = { "chatops:environment" = var.environment, "chatops:managed-by" = "terraform" }
  }
}

# Global-service CloudTrail events (IAM, console sign-in) arrive in us-east-1 only.
provider "aws" {
  alias  = "us_east_1"
  region = "us-east-1"
  default_tags {
    tags = { "chatops:environment" = var.environment, "chatops:managed-by" = "terraform" }
  }
}

# Token from GITHUB_TOKEN (a fine-grained token or GitHub App token with
# Administration: write and Environments: write on the repository).
provider "github" {
  owner = var.github_owner
}

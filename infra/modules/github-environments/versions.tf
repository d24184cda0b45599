terraform {
  required_version = ">= 1.6.0, < 2.0.0"

  required_providers {
    github = {
      source = "integrations/github"
      # 6.x: github_repository_environment_deployment_policy and
      # github_repository_environment_custom_protection_rule.
      version = "~> 6.6"
    }
  }
}

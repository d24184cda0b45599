terraform {
  required_version = ">= 1.11.0, < 2.0.0"

  required_providers {
    github = {
      source = "integrations/github"
      # Exactly the version whose schema tests/infra/test_provider_schema.py checks every block against
      # (tools/provider-schemas/package.json); bump both together. Same pin in every module.
      version = "6.9.0"
    }
  }
}

output "environment_names" {
  description = "Names of the deployment environments created (what the OIDC roles trust)."
  value       = [for e in github_repository_environment.this : e.environment]
}

output "plan_environment" {
  description = "Name of the plan environment, or null."
  value       = one(github_repository_environment.plan[*].environment)
}

output "protection_rule_environments" {
  description = "Environments gated by the chatops bot's custom deployment protection rule."
  value       = keys(github_repository_environment_custom_protection_rule.chatops)
}

output "oidc_subjects" {
  description = "OIDC `sub` claims GitHub will issue for jobs in these environments (owner shown as <owner>)."
  value       = { for e in github_repository_environment.this : e.environment => "repo:<owner>/${var.repository}:environment:${e.environment}" }
}

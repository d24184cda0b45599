output "environment_names" {
  description = "Names of the deployment environments created (what the OIDC roles trust)."
  value       = [for e in github_repository_environment.this : e.environment]
}

output "protection_rule_environments" {
  description = "Environments to gate with the chatops bot's custom deployment protection rule: `chatops-bot setup-github` enables the rule on them (Terraform cannot: no released provider has the resource)."
  value       = keys(local.protection_rule_environments)
}

output "oidc_subjects" {
  description = "OIDC `sub` claims GitHub will issue for jobs in these environments (owner shown as <owner>; <file>@<ref>: the job's workflow file and the run's ref), with the repository's subject template repo, context, job_workflow_ref."
  value       = { for e in github_repository_environment.this : e.environment => "repo:<owner>/${var.repository}:environment:${e.environment}:job_workflow_ref:<owner>/${var.repository}/.github/workflows/<file>@<ref>" }
}

output "oidc_subject_claim_keys" {
  description = "The repository's OIDC subject template (claim keys in order)."
  value       = github_actions_repository_oidc_subject_claim_customization_template.this.include_claim_keys
}

output "environment_variables" {
  description = "The GitHub Actions variables set on each environment (role ARNs and deploy targets)."
  value       = local.environment_values
}

output "repository_variables" {
  description = "The repository-level GitHub Actions variables set (AWS_REGION, AWS_PLAN_ROLE_ARN_<ENV>, AWS_SECURITY_ROLE_ARN, ...)."
  value       = local.repository_values
}

output "deployment_policies" {
  description = "Branch and tag patterns allowed to deploy to each environment."
  value = {
    for env, cfg in var.environments : env => { branches = cfg.branch_patterns, tags = cfg.tag_patterns }
  }
}

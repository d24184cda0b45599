output "github_variables" {
  description = "Role ARNs of this environment's account, by the GitHub variable that carries them (the github-environments module sets them from aws_account_id; shown for review)."
  value = {
    AWS_APPLY_ROLE_ARN                            = module.github_oidc.infra_apply_role_arn
    AWS_LAMBDA_DEPLOY_ROLE_ARN                    = module.github_oidc.lambda_deploy_role_arn
    AWS_WEB_DEPLOY_ROLE_ARN                       = module.github_oidc.web_deploy_role_arn
    AWS_API_DEPLOY_ROLE_ARN                       = module.github_oidc.api_deploy_role_arn
    "AWS_PLAN_ROLE_ARN_${upper(var.environment)}" = module.github_oidc.infra_plan_role_arn
  }
}

output "github_managed_variables" {
  description = "Every GitHub Actions variable the github-environments module sets (only in the state with manage_github = true)."
  value = var.manage_github ? {
    repository   = module.github_environments[0].repository_variables
    environments = module.github_environments[0].environment_variables
  } : null
}

output "bot_role_arn" {
  description = "IAM role of the bot."
  value       = module.chatops_bot.role_arn
}

output "bot_secret_arns" {
  description = "Secrets to fill with `aws secretsmanager put-secret-value` (see docs/secrets-and-variables.md)."
  value       = module.chatops_bot.secret_arns
}

output "security_events" {
  description = "Where security events go."
  value = {
    target_type       = module.security_events.target_type
    rule_arns         = module.security_events.rule_arns
    queue_url         = module.security_events.queue_url
    topic_arn         = module.security_events.topic_arn
    dead_letter_queue = module.security_events.dead_letter_queue_url
  }
}

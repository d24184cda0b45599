output "github_variables" {
  description = "Values to set as GitHub Actions variables of this environment (see docs/secrets-and-variables.md)."
  value = {
    AWS_REGION                 = var.aws_region
    AWS_PLAN_ROLE_ARN          = module.github_oidc.infra_plan_role_arn
    AWS_APPLY_ROLE_ARN         = module.github_oidc.infra_apply_role_arn
    AWS_LAMBDA_DEPLOY_ROLE_ARN = module.github_oidc.lambda_deploy_role_arn
    AWS_WEB_DEPLOY_ROLE_ARN    = module.github_oidc.web_deploy_role_arn
    AWS_API_DEPLOY_ROLE_ARN    = module.github_oidc.api_deploy_role_arn
  }
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

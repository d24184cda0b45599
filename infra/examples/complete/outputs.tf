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
    parked_queue      = module.security_events.parked_queue_url
  }
}

output "bot_alb_dns_name" {
  description = "DNS name of the bot's load balancer (point bot_domain_name at it unless bot_route53_zone_id is set)."
  value       = module.chatops_bot_service.alb_dns_name
}

output "bot_ingress_urls" {
  description = "Where Slack, the GitHub App, EventBridge, SNS and Teams send (docs/deploy-aws.md step 8)."
  value       = module.chatops_bot_service.ingress_urls
}

output "bot_cluster_name" {
  description = "ECS cluster of the bot."
  value       = module.chatops_bot_service.cluster_name
}

output "bot_service_name" {
  description = "ECS service of the bot."
  value       = module.chatops_bot_service.service_name
}

output "bot_task_definition_arn" {
  description = "Current task definition of the bot (one-off tasks such as check-config)."
  value       = module.chatops_bot_service.task_definition_arn
}

output "bot_run_task_network_configuration" {
  description = "awsvpcConfiguration for aws ecs run-task."
  value       = module.chatops_bot_service.run_task_network_configuration
}

output "bot_db_endpoint" {
  description = "The bot's PostgreSQL endpoint."
  value       = module.chatops_bot_service.db_endpoint
}

output "bot_db_secret_arn" {
  description = "RDS-managed secret of the bot's database login."
  value       = module.chatops_bot_service.db_secret_arn
}

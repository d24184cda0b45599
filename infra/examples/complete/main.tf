# One AWS account per environment: run this root once per environment with
# ../../environments/<env>.tfvars and a separate state.

module "chatops_bot" {
  source = "../../modules/chatops-bot"

  environment                = var.environment
  secrets                    = concat(["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "CHATOPS_EVENTS_API_KEY", "DATABASE_URL"], var.teams_webhook_env_vars)
  lambda_function_names      = concat(var.lambda_function_names, var.api_function_names)
  enable_instant_rollback    = var.enable_instant_rollback
  alarm_names                = var.alarm_names
  web_bucket_name            = var.web_bucket_name
  cloudfront_distribution_id = var.cloudfront_distribution_id
  events_queue_arn           = module.security_events.queue_arn
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  name_prefix                = "chatops-${var.environment}"
  github_repository          = "${var.github_owner}/${var.github_repository_name}"
  create_oidc_provider       = var.create_oidc_provider
  oidc_provider_arn          = var.oidc_provider_arn
  deploy_environment         = var.environment
  state_bucket_name          = var.state_bucket_name
  state_key_prefix           = var.state_key_prefix
  apply_policy_arns          = var.apply_policy_arns
  plan_secret_arns           = var.security_events_target == "api_destination" ? [module.chatops_bot.events_api_key_secret_arn] : []
  lambda_function_names      = var.lambda_function_names
  ecr_repository_names       = var.ecr_repository_names
  lambda_alarm_names         = var.alarm_names
  api_function_names         = var.api_function_names
  api_ecr_repository_names   = var.api_ecr_repository_names
  web_bucket_name            = var.web_bucket_name
  cloudfront_distribution_id = var.cloudfront_distribution_id
}

module "security_events" {
  source = "../../modules/security-events"
  providers = {
    aws = aws.us_east_1
  }

  name_prefix        = "chatops-${var.environment}"
  target_type        = var.security_events_target
  bot_base_url       = var.bot_base_url
  api_key_secret_arn = var.security_events_target == "api_destination" ? module.chatops_bot.events_api_key_secret_arn : null
  alarm_actions      = var.alarm_actions
}

# Managed from one state only (manage_github = true, production): every GitHub Actions variable the workflows
# read that Terraform knows. Role ARNs are computed from each environment's aws_account_id and the naming rule
# chatops-<env>-github-<kind> (the name_prefix given to github_oidc above), never typed by hand.
module "github_environments" {
  source = "../../modules/github-environments"
  count  = var.manage_github ? 1 : 0

  repository        = var.github_repository_name
  environments      = var.github_environments
  role_name_prefix  = "chatops"
  aws_region        = var.aws_region
  security_role_arn = module.github_oidc.security_scan_role_arn
  repository_variables = { for name, value in {
    API_FUNCTION_NAME  = try(var.api_function_names[0], null)
    API_ECR_REPOSITORY = try(var.api_ecr_repository_names[0], null)
    CHATOPS_URL        = var.bot_base_url
  } : name => value if value != null }
  chatops_app_id         = var.chatops_app_id
  required_status_checks = var.required_status_checks
}

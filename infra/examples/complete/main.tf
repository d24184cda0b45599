# One AWS account per environment: run this root once per environment with
# ../../environments/<env>.tfvars and a separate state.

module "chatops_bot" {
  source = "../../modules/chatops-bot"

  environment = var.environment
  # DATABASE_URL is not a secret here: chatops-bot-service connects with the RDS-managed password.
  secrets                    = concat(["SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "GITHUB_APP_PRIVATE_KEY", "GITHUB_WEBHOOK_SECRET", "CHATOPS_EVENTS_API_KEY"], var.slack_socket_mode ? ["SLACK_APP_TOKEN"] : [], var.teams_webhook_env_vars)
  lambda_function_names      = concat(var.lambda_function_names, var.api_function_names)
  alarm_names                = var.alarm_names
  web_bucket_name            = var.web_bucket_name
  cloudfront_distribution_id = var.cloudfront_distribution_id
  events_queue_arn           = module.security_events.queue_arn
  # the bot drains the delivery dead-letter queue and parks what it cannot read (issue 24 item 3)
  events_dead_letter_queue_arn         = module.security_events.dead_letter_queue_arn
  events_dead_letter_queue_kms_key_arn = module.security_events.dead_letter_queue_kms_key_arn
  events_parked_queue_arn              = module.security_events.parked_queue_arn
}

module "github_oidc" {
  source = "../../modules/github-oidc"

  name_prefix                = "chatops-${var.environment}"
  github_repository          = "${var.github_owner}/${var.github_repository_name}"
  create_oidc_provider       = var.create_oidc_provider
  oidc_provider_arn          = var.oidc_provider_arn
  deploy_environment         = var.environment
  apply_environment          = var.environment
  create_security_scan_role  = var.environment == "production"
  state_bucket_name          = var.state_bucket_name
  state_key_prefix           = var.state_key_prefix
  apply_policy_arns          = var.apply_policy_arns
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
  bot_base_url       = module.chatops_bot_service.base_url
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

module "chatops_bot_service" {
  source = "../../modules/chatops-bot-service"

  environment        = var.environment
  vpc_id             = var.vpc_id
  private_subnet_ids = var.private_subnet_ids
  public_subnet_ids  = var.public_subnet_ids
  certificate_arn    = var.bot_certificate_arn
  domain_name        = var.bot_domain_name
  # a root variable is known at plan, so the boolean may be derived from it here (not inside the module)
  create_dns_record   = var.bot_route53_zone_id != null
  route53_zone_id     = var.bot_route53_zone_id
  image               = var.bot_image
  socket_mode         = var.slack_socket_mode
  task_role_arn       = module.chatops_bot.role_arn
  secret_arns         = module.chatops_bot.secret_arns
  secrets_kms_key_arn = module.chatops_bot.kms_key_arn
  environment_variables = {
    GITHUB_APP_ID              = tostring(var.github_app_id)
    GITHUB_APP_INSTALLATION_ID = tostring(var.github_app_installation_id)
  }
  desired_count           = var.bot_desired_count
  db_multi_az             = var.environment == "production"
  db_deletion_protection  = var.environment != "dev"
  alb_deletion_protection = var.environment != "dev"
  access_logs_bucket      = var.alb_access_logs_bucket
}

# staging: its own AWS account; deploys from main only, after dev.

environment            = "staging"
aws_region             = "us-east-1"
github_owner           = "acme"
github_repository_name = "payments"

state_bucket_name = "acme-terraform-state-staging"
state_key_prefix  = "chatops/staging/"
apply_policy_arns = { terraform-apply = "arn:aws:iam::222222222222:policy/chatops-terraform-apply" }

lambda_function_names      = ["payments-worker"]
ecr_repository_names       = ["payments-worker"]
api_function_names         = ["payments-api"]
api_ecr_repository_names   = ["payments-api"]
web_bucket_name            = "acme-payments-web-staging"
cloudfront_distribution_id = "E2STAGEXAMPLE2"
alarm_names                = ["payments-api-staging-5xx", "payments-worker-staging-errors"]

bot_base_url           = "https://chatops-staging.acme.example"
security_events_target = "api_destination"
alarm_actions          = ["arn:aws:sns:us-east-1:222222222222:oncall-staging"]
teams_webhook_env_vars = ["TEAMS_WEBHOOK_DEPLOYS"]

manage_github = false

vpc_id                     = "vpc-0123456789abcdef0"
private_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
public_subnet_ids          = ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"]
bot_domain_name            = "chatops.acme.example"
bot_certificate_arn        = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
bot_image                  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/chatops-bot@sha256:0000000000000000000000000000000000000000000000000000000000000000"
github_app_id              = 123456
github_app_installation_id = 654321

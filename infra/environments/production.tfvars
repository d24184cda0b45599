# production: its own AWS account; the only state that manages the GitHub side
# (environments, protection rule, branch protection on main).

environment            = "production"
aws_region             = "us-east-1"
github_owner           = "acme"
github_repository_name = "payments"

state_bucket_name = "acme-terraform-state-production"
state_key_prefix  = "chatops/production/"
apply_policy_arns = { terraform-apply = "arn:aws:iam::333333333333:policy/chatops-terraform-apply" }

lambda_function_names      = ["payments-worker"]
ecr_repository_names       = ["payments-worker"]
api_function_names         = ["payments-api"]
api_ecr_repository_names   = ["payments-api"]
web_bucket_name            = "acme-payments-web-production"
cloudfront_distribution_id = "E3PRODEXAMPLE3"
alarm_names                = ["payments-api-production-5xx", "payments-worker-production-errors"]

bot_base_url           = "https://chatops.acme.example"
security_events_target = "api_destination"
alarm_actions          = ["arn:aws:sns:us-east-1:333333333333:oncall"]
teams_webhook_env_vars = ["TEAMS_WEBHOOK_DEPLOYS", "TEAMS_WEBHOOK_SECURITY"]

manage_github  = true
chatops_app_id = 123456

# Role ARNs are not typed here: github-environments computes them from aws_account_id and the naming rule
# chatops-<env>-github-<kind>. The deploy targets of dev and staging repeat their own tfvars (this state cannot
# read theirs); tests/contract checks they agree.
github_environments = {
  dev = {
    aws_account_id             = "111111111111"
    branch_patterns            = ["main"]
    tag_patterns               = ["v*"]
    api_url                    = "https://api.dev.payments.acme.example"
    api_health_url             = "https://api.dev.payments.acme.example/health"
    api_alarm_name             = "payments-api-dev-5xx"
    web_bucket_name            = "acme-payments-web-dev"
    cloudfront_distribution_id = "E1DEVEXAMPLE01"
    site_url                   = "https://dev.payments.acme.example"
  }
  staging = {
    aws_account_id             = "222222222222"
    branch_patterns            = ["main"]
    tag_patterns               = ["v*"]
    api_url                    = "https://api.staging.payments.acme.example"
    api_health_url             = "https://api.staging.payments.acme.example/health"
    api_alarm_name             = "payments-api-staging-5xx"
    web_bucket_name            = "acme-payments-web-staging"
    cloudfront_distribution_id = "E2STAGEXAMPLE2"
    site_url                   = "https://staging.payments.acme.example"
  }
  production = {
    aws_account_id = "333333333333"
    # gate: bot (examples/chatops.yml): the chat approval is the one approval, and the bot's protection rule
    # releases every job of the approved run. No GitHub reviewers and no wait timer by default: each would make
    # every job that names production wait again after the chat approved (docs/environments.md). To add GitHub's
    # own review on top: reviewer_team_ids = [4242424], wait_timer = 5.
    prevent_self_review        = true
    branch_patterns            = ["main"]
    tag_patterns               = ["v*"]
    use_protection_rule        = true
    api_url                    = "https://api.payments.acme.example"
    api_health_url             = "https://api.payments.acme.example/health"
    api_alarm_name             = "payments-api-production-5xx"
    web_bucket_name            = "acme-payments-web-production"
    cloudfront_distribution_id = "E3PRODEXAMPLE3"
    site_url                   = "https://payments.acme.example"
  }
}

# Jobs that run on EVERY pull request (their workflows have no paths filter on pull_request), by the check
# name GitHub reports: the job's `name:` (matrix jobs: as expanded). tests/contract checks each one.
required_status_checks = [
  "fmt and validate", "plan (dev)", "plan (staging)", "plan (production)",
  "unit tests", "integration tests (PostgreSQL)", "next build",
  "terraform scan (checkov)", "static analysis",
]

vpc_id                     = "vpc-0123456789abcdef0"
private_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
public_subnet_ids          = ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"]
bot_domain_name            = "chatops.acme.example"
bot_certificate_arn        = "arn:aws:acm:us-east-1:333333333333:certificate/00000000-0000-0000-0000-000000000000"
bot_image                  = "333333333333.dkr.ecr.us-east-1.amazonaws.com/chatops-bot@sha256:0000000000000000000000000000000000000000000000000000000000000000"
github_app_id              = 123456
github_app_installation_id = 654321

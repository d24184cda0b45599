# production: its own AWS account; the only state that manages the GitHub side
# (environments, protection rule, branch protection on main).

environment            = "production"
aws_region             = "us-east-1"
github_owner           = "acme"
github_repository_name = "payments"

state_bucket_name = "acme-terraform-state-production"
state_key_prefix  = "chatops/production/"
apply_policy_arns = ["arn:aws:iam::333333333333:policy/chatops-terraform-apply"]

lambda_function_names      = ["payments-worker"]
ecr_repository_names       = ["payments-worker"]
api_function_names         = ["payments-api"]
web_bucket_name            = "acme-payments-web-production"
cloudfront_distribution_id = "E3PRODEXAMPLE3"
alarm_names                = ["payments-api-production-5xx"]

# Production rollbacks go through rollback.yml and its environment approval.
enable_instant_rollback = false

bot_base_url           = "https://chatops.acme.example"
security_events_target = "api_destination"
alarm_actions          = ["arn:aws:sns:us-east-1:333333333333:oncall"]
teams_webhook_env_vars = ["TEAMS_WEBHOOK_DEPLOYS", "TEAMS_WEBHOOK_SECURITY"]

manage_github  = true
chatops_app_id = 123456

github_environments = {
  dev = {
    branch_patterns = ["main"]
    variables = {
      AWS_LAMBDA_DEPLOY_ROLE_ARN = "arn:aws:iam::111111111111:role/chatops-dev-github-lambda-deploy"
      AWS_WEB_DEPLOY_ROLE_ARN    = "arn:aws:iam::111111111111:role/chatops-dev-github-web-deploy"
      AWS_API_DEPLOY_ROLE_ARN    = "arn:aws:iam::111111111111:role/chatops-dev-github-api-deploy"
    }
  }
  staging = {
    branch_patterns = ["main"]
    variables = {
      AWS_LAMBDA_DEPLOY_ROLE_ARN = "arn:aws:iam::222222222222:role/chatops-staging-github-lambda-deploy"
      AWS_WEB_DEPLOY_ROLE_ARN    = "arn:aws:iam::222222222222:role/chatops-staging-github-web-deploy"
      AWS_API_DEPLOY_ROLE_ARN    = "arn:aws:iam::222222222222:role/chatops-staging-github-api-deploy"
    }
  }
  production = {
    wait_timer          = 5
    reviewer_team_ids   = [4242424]
    prevent_self_review = true
    branch_patterns     = ["main"]
    use_protection_rule = true
    variables = {
      AWS_LAMBDA_DEPLOY_ROLE_ARN = "arn:aws:iam::333333333333:role/chatops-production-github-lambda-deploy"
      AWS_WEB_DEPLOY_ROLE_ARN    = "arn:aws:iam::333333333333:role/chatops-production-github-web-deploy"
      AWS_API_DEPLOY_ROLE_ARN    = "arn:aws:iam::333333333333:role/chatops-production-github-api-deploy"
      AWS_APPLY_ROLE_ARN         = "arn:aws:iam::333333333333:role/chatops-production-github-infra-apply"
    }
  }
}

required_status_checks = ["infra-ci / plan", "web-ci / test", "api-ci / test", "security / scan"]

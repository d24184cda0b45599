# dev: its own AWS account; anything merged to main deploys here without approval.
# terraform -chdir=infra/examples/complete init -backend-config=...   (see docs/getting-started.md)
# terraform -chdir=infra/examples/complete plan -var-file=../../environments/dev.tfvars

environment            = "dev"
aws_region             = "us-east-1"
github_owner           = "acme"
github_repository_name = "payments"

state_bucket_name = "acme-terraform-state-dev"
state_key_prefix  = "chatops/dev/"
apply_policy_arns = { terraform-apply = "arn:aws:iam::111111111111:policy/chatops-terraform-apply" }

lambda_function_names    = ["payments-worker"]
ecr_repository_names     = ["payments-worker"]
api_function_names       = ["payments-api"]
api_ecr_repository_names = ["payments-api"]
web_bucket_name          = "acme-payments-web-dev"
# cloudfront_distribution_id is required whenever web_bucket_name is set.
cloudfront_distribution_id = "E1DEVEXAMPLE01"
alarm_names                = ["payments-api-dev-5xx", "payments-worker-dev-errors"]

# dev keeps it cheap and needs no public endpoint: the bot polls an SQS queue.
security_events_target = "sqs"

manage_github = false

vpc_id                     = "vpc-0123456789abcdef0"
private_subnet_ids         = ["subnet-0123456789abcdef0", "subnet-0123456789abcdef1"]
public_subnet_ids          = ["subnet-0123456789abcdef2", "subnet-0123456789abcdef3"]
bot_domain_name            = "chatops.acme.example"
bot_certificate_arn        = "arn:aws:acm:us-east-1:123456789012:certificate/00000000-0000-0000-0000-000000000000"
bot_image                  = "123456789012.dkr.ecr.us-east-1.amazonaws.com/chatops-bot@sha256:0000000000000000000000000000000000000000000000000000000000000000"
github_app_id              = 123456
github_app_installation_id = 654321

# dev: its own AWS account; anything merged to main deploys here without approval.
# terraform -chdir=infra/examples/complete init -backend-config=...   (see docs/getting-started.md)
# terraform -chdir=infra/examples/complete plan -var-file=../../environments/dev.tfvars

environment            = "dev"
aws_region             = "us-east-1"
github_owner           = "acme"
github_repository_name = "payments"

state_bucket_name = "acme-terraform-state-dev"
state_key_prefix  = "chatops/dev/"
apply_policy_arns = ["arn:aws:iam::111111111111:policy/chatops-terraform-apply"]

lambda_function_names    = ["payments-worker"]
ecr_repository_names     = ["payments-worker"]
api_function_names       = ["payments-api"]
api_ecr_repository_names = ["payments-api"]
web_bucket_name          = "acme-payments-web-dev"
# cloudfront_distribution_id is required whenever web_bucket_name is set.
cloudfront_distribution_id = "E1DEVEXAMPLE01"
alarm_names                = ["payments-api-dev-5xx", "payments-worker-dev-errors"]

enable_instant_rollback = true

# dev keeps it cheap and needs no public endpoint: the bot polls an SQS queue.
security_events_target = "sqs"

manage_github = false

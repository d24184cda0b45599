variable "environment" {
  description = "Environment this AWS account serves: dev, staging or production."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be dev, staging or production."
  }
}

variable "aws_region" {
  description = "Region of the bot, its secrets and the deploy targets. Keep us-east-1 with target_type api_destination unless the events API key secret is also available in us-east-1."
  type        = string
  default     = "us-east-1"

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as us-east-1."
  }
}

variable "github_owner" {
  description = "GitHub organization (or user) owning the repository."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9-]{1,39}$", var.github_owner))
    error_message = "github_owner must be a GitHub organization or user name."
  }
}

variable "github_repository_name" {
  description = "Name of the repository whose workflows deploy to this account."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,100}$", var.github_repository_name))
    error_message = "github_repository_name must be a repository name."
  }
}

variable "state_bucket_name" {
  description = "S3 bucket holding this environment's Terraform state."
  type        = string
}

variable "state_key_prefix" {
  description = "Key prefix of this environment's state objects, ending in '/'."
  type        = string
}

variable "apply_policy_arns" {
  description = "Customer-managed policies granting `terraform apply` what it manages, keyed by a name you choose (see docs/oidc.md)."
  type        = map(string)
}

variable "create_oidc_provider" {
  description = "Create the GitHub OIDC provider (false when the account already has one)."
  type        = bool
  default     = true
}

variable "oidc_provider_arn" {
  description = "Existing GitHub OIDC provider ARN when create_oidc_provider is false."
  type        = string
  default     = null
}

variable "lambda_function_names" {
  description = "Lambda functions deployed by build-and-deploy-lambda.yml."
  type        = list(string)
  default     = []
}

variable "ecr_repository_names" {
  description = "ECR repositories build-and-deploy-lambda.yml pushes to."
  type        = list(string)
  default     = []
}

variable "api_function_names" {
  description = "Lambda functions deployed by api-ci.yml."
  type        = list(string)
  default     = []
}

variable "api_ecr_repository_names" {
  description = "ECR repositories api-ci.yml pushes to (the first one is the repository variable API_ECR_REPOSITORY)."
  type        = list(string)
  default     = []
}

variable "web_bucket_name" {
  description = "Bucket web-ci.yml uploads releases to, or null."
  type        = string
  default     = null
}

variable "cloudfront_distribution_id" {
  description = "Distribution in front of web_bucket_name, or null."
  type        = string
  default     = null
}

variable "alarm_names" {
  description = "CloudWatch alarms that gate canaries and show in /deploy status."
  type        = list(string)
  default     = []
}

variable "bot_base_url" {
  description = "Public HTTPS base URL of the bot, e.g. https://chatops.example.com."
  type        = string
  default     = null
}

variable "security_events_target" {
  description = "api_destination, sqs or sns (see the security-events module)."
  type        = string
  default     = "api_destination"
}

variable "alarm_actions" {
  description = "SNS topics paged when security events cannot be delivered."
  type        = list(string)
  default     = []
}

variable "teams_webhook_env_vars" {
  description = "Extra secret environment variables holding Teams webhook URLs (the names your bot config refers to)."
  type        = list(string)
  default     = []
}

variable "manage_github" {
  description = "Manage the GitHub environments and branch protection from this environment's state. Exactly one environment (usually production) should set it."
  type        = bool
  default     = false
}

variable "github_environments" {
  description = "Passed to the github-environments module's `environments` (aws_account_id of each environment, reviewers, branch and tag patterns, deploy targets)."
  type = map(object({
    aws_account_id             = string
    wait_timer                 = optional(number, 0)
    reviewer_user_ids          = optional(list(number), [])
    reviewer_team_ids          = optional(list(number), [])
    prevent_self_review        = optional(bool, true)
    can_admins_bypass          = optional(bool, false)
    branch_patterns            = optional(list(string), ["main"])
    tag_patterns               = optional(list(string), ["v*"])
    use_protection_rule        = optional(bool, false)
    api_url                    = optional(string)
    api_health_url             = optional(string)
    api_alarm_name             = optional(string)
    web_bucket_name            = optional(string)
    cloudfront_distribution_id = optional(string)
    site_url                   = optional(string)
    variables                  = optional(map(string), {})
  }))
  default = {}
}

variable "chatops_app_id" {
  description = "App ID of the chatops GitHub App (custom deployment protection rule), or null."
  type        = number
  default     = null
}

variable "required_status_checks" {
  description = "Checks required on main: names of jobs (as GitHub reports them) that run on every pull request (tests/contract checks it)."
  type        = list(string)
  default = [
    "fmt and validate", "plan (dev)", "plan (staging)", "plan (production)",
    "unit tests", "integration tests (PostgreSQL)", "next build",
    "terraform scan (checkov)", "static analysis",
  ]
}

variable "vpc_id" {
  description = "VPC of the bot's load balancer, tasks and database."
  type        = string
}

variable "private_subnet_ids" {
  description = "Private subnets (two or more AZs, egress on 443) of the bot's tasks and database."
  type        = list(string)
}

variable "public_subnet_ids" {
  description = "Public subnets (two or more AZs) of the bot's load balancer."
  type        = list(string)
}

variable "bot_domain_name" {
  description = "Host name of the bot, e.g. chatops.acme.example (bot_base_url is https://<this>)."
  type        = string
}

variable "bot_certificate_arn" {
  description = "ACM certificate covering bot_domain_name, in aws_region."
  type        = string
}

variable "bot_route53_zone_id" {
  description = "Hosted zone for the bot's alias record; null to manage DNS elsewhere."
  type        = string
  default     = null
}

variable "bot_image" {
  description = "The bot's image with your chatops.yml, pinned by digest (<ecr>/chatops-bot@sha256:...); see docs/deploy-aws.md."
  type        = string
}

variable "bot_desired_count" {
  description = "Number of bot tasks (at least 2)."
  type        = number
  default     = 2
}

variable "slack_socket_mode" {
  description = "Slack over Socket Mode (no /slack/events route; the SLACK_APP_TOKEN secret is created)."
  type        = bool
  default     = false
}

variable "github_app_id" {
  description = "The bot's GitHub App id (GITHUB_APP_ID)."
  type        = number
}

variable "github_app_installation_id" {
  description = "Installation id of the bot's GitHub App (GITHUB_APP_INSTALLATION_ID)."
  type        = number
}

variable "alb_access_logs_bucket" {
  description = "S3 bucket for the bot load balancer's access logs; null for none."
  type        = string
  default     = null
}

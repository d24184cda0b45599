variable "name_prefix" {
  description = "Prefix of the role, key alias and secret names, e.g. \"chatops\"."
  type        = string
  default     = "chatops"

  validation {
    condition     = can(regex("^[A-Za-z0-9_-]{1,32}$", var.name_prefix))
    error_message = "name_prefix must be 1-32 letters, digits, '_' or '-'."
  }
}

variable "environment" {
  description = "Deployment environment this bot instance runs in (dev, staging or production); part of every name."
  type        = string

  validation {
    condition     = contains(["dev", "staging", "production"], var.environment)
    error_message = "environment must be dev, staging or production."
  }
}

variable "trusted_service" {
  description = "AWS service that runs the bot and assumes its role: ecs-tasks.amazonaws.com (ECS/Fargate task role) or lambda.amazonaws.com."
  type        = string
  default     = "ecs-tasks.amazonaws.com"

  validation {
    condition     = contains(["ecs-tasks.amazonaws.com", "lambda.amazonaws.com"], var.trusted_service)
    error_message = "trusted_service must be ecs-tasks.amazonaws.com or lambda.amazonaws.com."
  }
}

variable "secrets" {
  description = "Environment variable names the bot reads from Secrets Manager; one secret is created per name (values are put out of band, see docs/secrets-and-variables.md). Add Teams webhook variables (e.g. TEAMS_WEBHOOK_DEPLOYS) here."
  type        = list(string)
  default = [
    "SLACK_BOT_TOKEN",
    "SLACK_SIGNING_SECRET",
    "GITHUB_APP_PRIVATE_KEY",
    "GITHUB_WEBHOOK_SECRET",
    "CHATOPS_EVENTS_API_KEY",
    "DATABASE_URL",
  ]

  validation {
    condition     = length(var.secrets) > 0 && alltrue([for s in var.secrets : can(regex("^[A-Z][A-Z0-9_]{0,63}$", s))])
    error_message = "secrets must be upper-case environment variable names."
  }
}

variable "secret_recovery_window_days" {
  description = "Days a deleted secret can still be restored (7-30)."
  type        = number
  default     = 30

  validation {
    condition     = var.secret_recovery_window_days >= 7 && var.secret_recovery_window_days <= 30
    error_message = "secret_recovery_window_days must be between 7 and 30."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key encrypting the secrets. null: the module creates one (with rotation)."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (not an alias)."
  }
}

variable "lambda_function_names" {
  description = "Lambda functions whose aliases and versions `/deploy status` shows (read only: `/rollback` runs rollback.yml, which moves the alias)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.lambda_function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", n))])
    error_message = "lambda_function_names must be literal function names (no wildcards)."
  }
}

variable "alarm_names" {
  description = "CloudWatch alarms `/deploy status` shows."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.alarm_names : can(regex("^[^*?]{1,255}$", n))])
    error_message = "alarm_names must be literal alarm names (no wildcards)."
  }
}

variable "web_bucket_name" {
  description = "Web release bucket whose release prefix `/deploy status` lists; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.web_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.web_bucket_name))
    error_message = "web_bucket_name must be a valid S3 bucket name."
  }
}

variable "web_release_prefix" {
  description = "Key prefix of the web releases inside web_bucket_name."
  type        = string
  default     = "releases/"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.()'-]+/)+$", var.web_release_prefix))
    error_message = "web_release_prefix must be one or more path segments ending in '/', without wildcards."
  }
}

variable "cloudfront_distribution_id" {
  description = "CloudFront distribution whose state and invalidations `/deploy status` shows; null for none."
  type        = string
  default     = null

  validation {
    condition     = var.cloudfront_distribution_id == null || can(regex("^[A-Z0-9]{8,20}$", var.cloudfront_distribution_id))
    error_message = "cloudfront_distribution_id must be a distribution id such as E2QWRUHAPOMQZL."
  }
}

variable "events_queue_arn" {
  description = "SQS queue of the security-events module (target_type = \"sqs\") the bot polls; null when events arrive over HTTPS."
  type        = string
  default     = null

  validation {
    condition     = var.events_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.events_queue_arn))
    error_message = "events_queue_arn must be an SQS queue ARN."
  }
}

variable "events_queue_kms_key_arn" {
  description = "KMS key encrypting events_queue_arn when it is a customer-managed key; null when the queue uses SSE-SQS."
  type        = string
  default     = null

  validation {
    condition     = var.events_queue_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.events_queue_kms_key_arn))
    error_message = "events_queue_kms_key_arn must be a KMS key ARN."
  }
}

variable "events_dead_letter_queue_arn" {
  description = "Delivery dead-letter queue of the security-events module (its dead_letter_queue_arn): events EventBridge or SNS could not deliver, which the bot drains (security.sqs.delivery_dlq_url); null = not drained."
  type        = string
  default     = null

  validation {
    condition     = var.events_dead_letter_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.events_dead_letter_queue_arn))
    error_message = "events_dead_letter_queue_arn must be an SQS queue ARN."
  }
}

variable "events_dead_letter_queue_kms_key_arn" {
  description = "KMS key encrypting events_dead_letter_queue_arn (the security-events module's dead_letter_queue_kms_key_arn); null when the queue uses SSE-SQS."
  type        = string
  default     = null

  validation {
    condition     = var.events_dead_letter_queue_kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.events_dead_letter_queue_kms_key_arn))
    error_message = "events_dead_letter_queue_kms_key_arn must be a KMS key ARN."
  }
}

variable "events_parked_queue_arn" {
  description = "Parked queue of the security-events module (its parked_queue_arn): the bot sends what it cannot read or record there (security.sqs.dead_letter_queue_url); null = such messages are deleted with an audit entry."
  type        = string
  default     = null

  validation {
    condition     = var.events_parked_queue_arn == null || can(regex("^arn:aws[a-z-]*:sqs:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]{1,80}$", var.events_parked_queue_arn))
    error_message = "events_parked_queue_arn must be an SQS queue ARN."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the bot role, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

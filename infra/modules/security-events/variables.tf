variable "name_prefix" {
  description = "Prefix of every rule, queue, topic and role name, e.g. \"chatops-prod\". EventBridge rule names (<name_prefix>-<rule id>) are at most 64 characters, so the prefix is at most 64 - 1 - the longest rule id in patterns.json (36 characters with today's rules)."
  type        = string
  default     = "chatops"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+$", var.name_prefix))
    error_message = "name_prefix must be letters, digits, '.', '_' or '-' (the characters EventBridge allows in a rule name)."
  }

  # Every generated rule name <name_prefix>-<rule id> must fit EventBridge's 64 characters; the ids are read from
  # the same patterns.json the rules are made from (Terraform >= 1.9 lets a validation read the module's files).
  validation {
    condition = alltrue([
      for id in keys(jsondecode(file("${path.module}/patterns.json"))) : length("${var.name_prefix}-${id}") <= 64
    ])
    error_message = "name_prefix is too long: an EventBridge rule name <name_prefix>-<rule id> would exceed 64 characters; with the rule ids in patterns.json, name_prefix may have at most ${63 - max([for id in keys(jsondecode(file("${path.module}/patterns.json"))) : length(id)]...)} characters."
  }
}

variable "detections" {
  description = "Bot rule ids to create EventBridge rules for (see patterns.json, generated from bot/alerts/rules.yml); null = every rule. Global-service events (console sign-in, IAM) are only delivered in us-east-1: deploy the module there with all of them, and in other regions with the regional ones (access-denied, github-oidc-misuse, cloudtrail-tampering, bot-resources-changed)."
  type        = list(string)
  default     = null

  validation {
    condition     = var.detections == null ? true : length(var.detections) > 0
    error_message = "detections must be null (every rule) or a non-empty list of rule ids from patterns.json."
  }
}

variable "include_read_only_events" {
  description = "Match read-only management events too (rule state ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS) for access-denied and root-activity (and the other rules that may match them), so denied Describe*/Get*/List* reconnaissance is seen. Costs more matched events."
  type        = bool
  default     = true
}

variable "target_type" {
  description = "How events reach the bot: \"api_destination\" (EventBridge POSTs to <bot_base_url>/aws/events with x-api-key), \"sqs\" (the bot polls a queue) or \"sns\" (an HTTPS subscription to <bot_base_url>/aws/sns)."
  type        = string
  default     = "api_destination"

  validation {
    condition     = contains(["api_destination", "sqs", "sns"], var.target_type)
    error_message = "target_type must be api_destination, sqs or sns."
  }
}

variable "bot_base_url" {
  description = "Public HTTPS base URL of the bot, without trailing slash (e.g. \"https://chatops.example.com\"). Required for api_destination and sns."
  type        = string
  default     = null

  validation {
    condition     = var.bot_base_url == null || can(regex("^https://[A-Za-z0-9.-]+(:[0-9]+)?(/[A-Za-z0-9._~-]+)*$", var.bot_base_url))
    error_message = "bot_base_url must be an https:// URL without a trailing slash, query or fragment."
  }
}

variable "api_key_secret_arn" {
  description = "Secrets Manager secret holding the API key the bot expects in x-api-key (its CHATOPS_EVENTS_API_KEY; output events_api_key_secret_arn of the chatops-bot module). Required for api_destination; the module never reads its value (see set_api_key_command)."
  type        = string
  default     = null

  validation {
    condition     = var.api_key_secret_arn == null || can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", var.api_key_secret_arn))
    error_message = "api_key_secret_arn must be a full Secrets Manager secret ARN."
  }
}

variable "sns_wait_for_confirmation" {
  description = "sns target: make apply wait until the bot has confirmed the HTTPS subscription (the provider's endpoint_auto_confirms). Leave false on a fresh stack, where the bot is not up yet and the wait would fail the apply; set true once the bot serves <bot_base_url>/aws/sns to have apply prove the subscription works."
  type        = bool
  default     = false
}

variable "sns_confirmation_timeout_in_minutes" {
  description = "sns target: how long apply waits for the confirmation when sns_wait_for_confirmation is true."
  type        = number
  default     = 5

  validation {
    condition     = var.sns_confirmation_timeout_in_minutes >= 1 && var.sns_confirmation_timeout_in_minutes <= 60
    error_message = "sns_confirmation_timeout_in_minutes must be between 1 and 60."
  }
}

variable "invocation_rate_limit_per_second" {
  description = "Maximum requests per second EventBridge sends to the bot's API destination."
  type        = number
  default     = 10

  validation {
    condition     = var.invocation_rate_limit_per_second >= 1 && var.invocation_rate_limit_per_second <= 300
    error_message = "invocation_rate_limit_per_second must be between 1 and 300."
  }
}

variable "maximum_event_age_in_seconds" {
  description = "How long EventBridge keeps retrying an undelivered event before sending it to the dead-letter queue (60-86400)."
  type        = number
  default     = 3600

  validation {
    condition     = var.maximum_event_age_in_seconds >= 60 && var.maximum_event_age_in_seconds <= 86400
    error_message = "maximum_event_age_in_seconds must be between 60 and 86400."
  }
}

variable "maximum_retry_attempts" {
  description = "How many times EventBridge retries an event before sending it to the dead-letter queue (0-185)."
  type        = number
  default     = 20

  validation {
    condition     = var.maximum_retry_attempts >= 0 && var.maximum_retry_attempts <= 185
    error_message = "maximum_retry_attempts must be between 0 and 185."
  }
}

variable "queue_visibility_timeout_seconds" {
  description = "Visibility timeout of the sqs target queue: how long the bot has to process and delete a message."
  type        = number
  default     = 60

  validation {
    condition     = var.queue_visibility_timeout_seconds >= 0 && var.queue_visibility_timeout_seconds <= 43200
    error_message = "queue_visibility_timeout_seconds must be between 0 and 43200."
  }
}

variable "dead_letter_age_alarm_seconds" {
  description = "Alarm when the oldest message in a queue the bot drains (the delivery dead-letter queue, and the sqs target queue) is older than this many seconds: the bot is not draining it."
  type        = number
  default     = 900

  validation {
    condition     = var.dead_letter_age_alarm_seconds >= 60 && var.dead_letter_age_alarm_seconds <= 1209600
    error_message = "dead_letter_age_alarm_seconds must be between 60 and 1209600."
  }
}

variable "kms_key_arn" {
  description = "Customer-managed KMS key for the SNS topic and the queues. Its key policy must let events.amazonaws.com (and sns.amazonaws.com) use it. null: queues use SSE-SQS, and an SNS target gets a key created here."
  type        = string
  default     = null

  validation {
    condition     = var.kms_key_arn == null || can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.kms_key_arn))
    error_message = "kms_key_arn must be a KMS key ARN (not an alias)."
  }
}

variable "alarm_actions" {
  description = "SNS topic ARNs notified when deliveries fail, when a drained queue is not drained, or when events are parked (e.g. an on-call topic)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for a in var.alarm_actions : can(regex("^arn:aws[a-z-]*:sns:[a-z0-9-]+:[0-9]{12}:[A-Za-z0-9_-]+$", a))])
    error_message = "alarm_actions must be SNS topic ARNs."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

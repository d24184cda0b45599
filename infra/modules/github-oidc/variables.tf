variable "github_repository" {
  description = "Repository allowed to assume the roles, as \"owner/name\" (e.g. \"acme/payments\"). No wildcards: the value is pasted into the StringEquals `sub` condition."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+$", var.github_repository))
    error_message = "github_repository must be \"owner/name\" with letters, digits, '.', '_' or '-' only (no wildcards)."
  }
}

variable "name_prefix" {
  description = "Prefix of every IAM role and policy name, e.g. \"chatops-prod\"."
  type        = string
  default     = "chatops"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,32}$", var.name_prefix))
    error_message = "name_prefix must be 1-32 characters valid in an IAM role name."
  }
}

variable "create_oidc_provider" {
  description = "Create the token.actions.githubusercontent.com OIDC provider. Set false when the account already has one (only one per account is allowed) and pass its ARN in oidc_provider_arn."
  type        = bool
  default     = true
}

variable "oidc_provider_arn" {
  description = "ARN of an existing token.actions.githubusercontent.com OIDC provider; used only when create_oidc_provider is false."
  type        = string
  default     = null

  validation {
    condition     = var.oidc_provider_arn == null || can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:oidc-provider/token\\.actions\\.githubusercontent\\.com$", var.oidc_provider_arn))
    error_message = "oidc_provider_arn must be the ARN of the token.actions.githubusercontent.com provider."
  }
}

variable "apply_environment" {
  description = "The only GitHub environment whose jobs may assume the infra apply role: the environment this account serves (one AWS account per environment), so pass the same value as deploy_environment."
  type        = string
  default     = "production"

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.apply_environment))
    error_message = "apply_environment must be a literal environment name (letters, digits, '.', '_', '-'; no wildcards)."
  }
}

variable "deploy_environment" {
  description = "The GitHub environment (dev, staging or production) this AWS account serves; only its jobs may assume the build, Lambda, web and API deploy roles."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,255}$", var.deploy_environment))
    error_message = "deploy_environment must be a literal environment name (letters, digits, '.', '_', '-'; no wildcards)."
  }
}

variable "state_bucket_name" {
  description = "S3 bucket holding the Terraform state read by the plan role and written by the apply role."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.state_bucket_name))
    error_message = "state_bucket_name must be a valid S3 bucket name."
  }
}

variable "state_key_prefix" {
  description = "Key prefix of the Terraform state objects inside state_bucket_name (no leading slash, trailing slash included), e.g. \"chatops/production/\"."
  type        = string

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.()'-]+/)+$", var.state_key_prefix))
    error_message = "state_key_prefix must be one or more path segments ending in '/', without wildcards."
  }
}

variable "state_lock_table_name" {
  description = "DynamoDB table used for state locking, or null when the S3 backend uses native lock files (use_lockfile = true, Terraform >= 1.10)."
  type        = string
  default     = null

  validation {
    condition     = var.state_lock_table_name == null || can(regex("^[A-Za-z0-9_.-]{3,255}$", var.state_lock_table_name))
    error_message = "state_lock_table_name must be a valid DynamoDB table name."
  }
}

variable "plan_policy_arns" {
  description = "Extra policies attached to the infra plan role, keyed by a name you choose (the key, not the ARN, is the for_each key, so an ARN known only after apply works). Empty by default: the role's own policy reads the state and the configuration of the resource types of these modules. Add only configuration reads for resources you add; broad AWS-managed read policies (ReadOnlyAccess, which reads every S3 object and DynamoDB item, and AdministratorAccess, PowerUserAccess, IAMFullAccess) are refused, because every pull request can assume this role."
  type        = map(string)
  default     = {}

  validation {
    condition = alltrue([
      for arn in values(var.plan_policy_arns) :
      can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/", arn)) && !can(regex(":policy/(.*/)?(ReadOnlyAccess|AdministratorAccess|PowerUserAccess|IAMFullAccess|AmazonS3ReadOnlyAccess|AmazonDynamoDBReadOnlyAccess|SecretsManagerReadWrite)$", arn))
    ])
    error_message = "plan_policy_arns must map names to IAM policy ARNs, and not ReadOnlyAccess (it reads every S3 object and DynamoDB item), AdministratorAccess, PowerUserAccess, IAMFullAccess or other AWS-managed data-read policies."
  }
}

variable "plan_secret_arns" {
  description = "Deprecated and ignored (kept so that existing callers still validate): the plan role reads no secret, because no secret value lives in the Terraform state any more. A non-empty list raises a warning; remove it from the module call."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for arn in var.plan_secret_arns : can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", arn))])
    error_message = "plan_secret_arns must be full secret ARNs without wildcards."
  }
}

variable "apply_policy_arns" {
  description = "Customer-managed policies attached to the infra apply role, keyed by a name you choose (the for_each key, so an ARN known only after apply works): the permissions `terraform apply` needs for the resources this repository manages. AdministratorAccess and PowerUserAccess are refused."
  type        = map(string)

  validation {
    condition = length(var.apply_policy_arns) > 0 && alltrue([
      for arn in values(var.apply_policy_arns) :
      can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/", arn)) && !can(regex("/(AdministratorAccess|PowerUserAccess|IAMFullAccess)$", arn))
    ])
    error_message = "apply_policy_arns must map at least one name to an IAM policy ARN, and not AdministratorAccess, PowerUserAccess or IAMFullAccess."
  }
}

variable "ecr_repository_names" {
  description = "ECR repositories of the Lambda functions: the build role pushes to them, the Lambda deploy role reads the images it deploys from them, the security-scan role reads their scan findings."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.ecr_repository_names : can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", n))])
    error_message = "ecr_repository_names must be literal repository names (no wildcards)."
  }
}

variable "create_security_scan_role" {
  description = "Create the read-only security-scan role (ECR scan findings of every named repository, assumable from the main branch only). The workflows read one AWS_SECURITY_ROLE_ARN, so one account (production) is enough."
  type        = bool
  default     = true
}

variable "lambda_function_names" {
  description = "Lambda functions the Lambda deploy role may update, publish and re-alias (blue/green and rollback). Empty list: the Lambda deploy role is not created."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.lambda_function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", n))])
    error_message = "lambda_function_names must be literal function names (no ARNs, no wildcards)."
  }
}

variable "lambda_alarm_names" {
  description = "CloudWatch alarms the Lambda and API deploy roles may read to decide whether a canary is healthy."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.lambda_alarm_names : can(regex("^[^*?]{1,255}$", n))])
    error_message = "lambda_alarm_names must be literal alarm names (no wildcards)."
  }
}

variable "web_bucket_name" {
  description = "S3 bucket the web deploy role uploads releases to. null: the web deploy role is not created."
  type        = string
  default     = null

  validation {
    condition     = var.web_bucket_name == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.web_bucket_name))
    error_message = "web_bucket_name must be a valid S3 bucket name."
  }
}

variable "web_release_prefix" {
  description = "Key prefix under which every web release is uploaded (one sub-prefix per release). The web deploy role can write nowhere else in the bucket."
  type        = string
  default     = "releases/"

  validation {
    condition     = can(regex("^([A-Za-z0-9!_.()'-]+/)+$", var.web_release_prefix))
    error_message = "web_release_prefix must be one or more path segments ending in '/', without wildcards."
  }
}

variable "web_ledger_key" {
  description = "Key of the release engine's ledger of web releases (bot/actions/release/web.py LEDGER_KEY); the web deploy role reads and writes this one object outside the release prefix."
  type        = string
  default     = "_releases/ledger.json"

  validation {
    condition     = can(regex("^[A-Za-z0-9!_.()'-]+(/[A-Za-z0-9!_.()'-]+)*$", var.web_ledger_key))
    error_message = "web_ledger_key must be a literal object key (no leading slash, no wildcards)."
  }
}

variable "cloudfront_distribution_id" {
  description = "CloudFront distribution whose cache the web deploy role may invalidate and whose origin path it may switch to a new release. Required when web_bucket_name is set."
  type        = string
  default     = null

  validation {
    condition     = var.cloudfront_distribution_id == null || can(regex("^[A-Z0-9]{8,20}$", var.cloudfront_distribution_id))
    error_message = "cloudfront_distribution_id must be a distribution id such as E2QWRUHAPOMQZL."
  }
}

variable "api_function_names" {
  description = "Lambda functions behind the API that the API deploy role may update, publish and re-alias. Empty list: the API deploy role is not created."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.api_function_names : can(regex("^[A-Za-z0-9_-]{1,64}$", n))])
    error_message = "api_function_names must be literal function names (no ARNs, no wildcards)."
  }
}

variable "api_ecr_repository_names" {
  description = "ECR repositories of the API functions: the build role pushes to them, the API deploy role reads the images it deploys from them, the security-scan role reads their scan findings."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for n in var.api_ecr_repository_names : can(regex("^[a-z0-9]+([._/-][a-z0-9]+)*$", n))])
    error_message = "api_ecr_repository_names must be literal repository names (no wildcards)."
  }
}

variable "api_gateway_rest_api_id" {
  description = "API Gateway REST API whose stage deployments the API deploy role may create. null: no API Gateway permissions."
  type        = string
  default     = null

  validation {
    condition     = var.api_gateway_rest_api_id == null || can(regex("^[a-z0-9]{10}$", var.api_gateway_rest_api_id))
    error_message = "api_gateway_rest_api_id must be a 10-character REST API id."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary attached to every role, or null for none."
  type        = string
  default     = null

  validation {
    condition     = var.permissions_boundary_arn == null || can(regex("^arn:aws[a-z-]*:iam::(aws|[0-9]{12}):policy/", var.permissions_boundary_arn))
    error_message = "permissions_boundary_arn must be an IAM policy ARN."
  }
}

variable "max_session_duration" {
  description = "Maximum session length in seconds of every role (GitHub jobs should finish well within it)."
  type        = number
  default     = 3600

  validation {
    condition     = var.max_session_duration >= 900 && var.max_session_duration <= 43200
    error_message = "max_session_duration must be between 900 and 43200 seconds."
  }
}

variable "tags" {
  description = "Tags applied to every resource."
  type        = map(string)
  default     = {}
}

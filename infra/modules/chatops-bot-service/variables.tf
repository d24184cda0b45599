variable "name_prefix" {
  description = "Prefix of every name (cluster, service, load balancer, database), e.g. \"chatops\"."
  type        = string
  default     = "chatops"

  validation {
    # RDS identifiers (<prefix>-<environment>-chatops) must not end with '-' nor hold '--': AWS refuses them.
    condition     = can(regex("^[a-z]([a-z0-9-]{0,11}[a-z0-9])?$", var.name_prefix)) && !strcontains(var.name_prefix, "--")
    error_message = "name_prefix must be 1-13 lower-case letters, digits or '-', starting with a letter and ending with a letter or digit, without '--' (<prefix>-<environment>-chatops names the load balancer and target group, at most 32 characters, and the RDS instance, which AWS refuses with a trailing or doubled '-')."
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

# ---------------------------------------------------------------------------
# Network
# ---------------------------------------------------------------------------

variable "vpc_id" {
  description = "VPC of the load balancer, the tasks and the database."
  type        = string

  validation {
    condition     = can(regex("^vpc-[0-9a-f]{8,17}$", var.vpc_id))
    error_message = "vpc_id must be a VPC id such as vpc-0123456789abcdef0."
  }
}

variable "private_subnet_ids" {
  description = "Private subnets (at least two, in different availability zones) of the tasks and of the database; they reach Slack, GitHub and the AWS APIs on 443 through a NAT gateway or VPC endpoints."
  type        = list(string)

  validation {
    condition     = length(var.private_subnet_ids) >= 2 && alltrue([for s in var.private_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "private_subnet_ids must list at least two subnet ids (subnet-...)."
  }
}

variable "public_subnet_ids" {
  description = "Subnets of the load balancer when internet_facing = true (at least two, public); ignored when internal (the load balancer then uses private_subnet_ids)."
  type        = list(string)
  default     = []

  validation {
    condition     = alltrue([for s in var.public_subnet_ids : can(regex("^subnet-[0-9a-f]{8,17}$", s))])
    error_message = "public_subnet_ids must be subnet ids (subnet-...)."
  }
}

variable "internet_facing" {
  description = "Internet-facing load balancer (Slack, GitHub and EventBridge API destinations call it from the internet). false: internal, for a private ingress in front of it."
  type        = bool
  default     = true
}

variable "ingress_cidrs" {
  description = "CIDR blocks allowed to reach the load balancer on 443 (and 80, which only redirects). Slack and EventBridge publish no stable ranges, so an internet-facing bot usually keeps 0.0.0.0/0; every request is still verified by signature or API key."
  type        = list(string)
  default     = ["0.0.0.0/0"]

  validation {
    condition     = length(var.ingress_cidrs) > 0 && alltrue([for c in var.ingress_cidrs : can(cidrhost(c, 0))])
    error_message = "ingress_cidrs must be a non-empty list of CIDR blocks."
  }
}

# ---------------------------------------------------------------------------
# Load balancer
# ---------------------------------------------------------------------------

variable "certificate_arn" {
  description = "ACM certificate of the HTTPS listener; it must cover domain_name."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:acm:[a-z0-9-]+:[0-9]{12}:certificate/[0-9a-f-]+$", var.certificate_arn))
    error_message = "certificate_arn must be an ACM certificate ARN."
  }
}

variable "ssl_policy" {
  description = "TLS policy of the HTTPS listener (TLS 1.3 and 1.2 with forward secrecy only)."
  type        = string
  default     = "ELBSecurityPolicy-TLS13-1-2-2021-06"

  validation {
    condition     = contains(["ELBSecurityPolicy-TLS13-1-2-2021-06", "ELBSecurityPolicy-TLS13-1-2-Res-2021-06", "ELBSecurityPolicy-TLS13-1-3-2021-06"], var.ssl_policy)
    error_message = "ssl_policy must be one of the TLS 1.3 policies ELBSecurityPolicy-TLS13-1-2-2021-06, ELBSecurityPolicy-TLS13-1-2-Res-2021-06 or ELBSecurityPolicy-TLS13-1-3-2021-06."
  }
}

variable "domain_name" {
  description = "Public host name of the bot (covered by certificate_arn), e.g. chatops.example.com; the ingress URLs use it."
  type        = string

  validation {
    condition     = can(regex("^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\\.)+[a-z]{2,63}$", var.domain_name))
    error_message = "domain_name must be a lower-case DNS name such as chatops.example.com."
  }
}

variable "create_dns_record" {
  description = "Create an alias record domain_name -> load balancer in route53_zone_id. A plain boolean (not derived from the zone id), so the record count is known at plan even when the zone is created in the same apply; false to manage DNS elsewhere."
  type        = bool
  default     = false

  validation {
    condition     = !var.create_dns_record || var.route53_zone_id != null
    error_message = "create_dns_record = true needs route53_zone_id."
  }
}

variable "route53_zone_id" {
  description = "Route 53 hosted zone of the alias record (used only with create_dns_record = true); it may be unknown until apply, e.g. a zone created in the same configuration."
  type        = string
  default     = null

  validation {
    condition     = var.route53_zone_id == null || can(regex("^Z[A-Z0-9]{1,31}$", var.route53_zone_id))
    error_message = "route53_zone_id must be a hosted zone id such as Z0123456789ABCDEFGHIJ."
  }
}

variable "access_logs_bucket" {
  description = "S3 bucket for the load balancer's access logs (its policy must allow ELB log delivery); null for none."
  type        = string
  default     = null

  validation {
    condition     = var.access_logs_bucket == null || can(regex("^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$", var.access_logs_bucket))
    error_message = "access_logs_bucket must be a valid S3 bucket name."
  }
}

variable "alb_deletion_protection" {
  description = "Protect the load balancer from deletion (turn off before destroying the stack)."
  type        = bool
  default     = true
}

variable "socket_mode" {
  description = "Slack over Socket Mode: the bot connects out to Slack, /slack/events is not routed, and secret_arns must hold SLACK_APP_TOKEN."
  type        = bool
  default     = false
}

variable "github_oauth_callback" {
  description = "Route GET /github/oauth/callback to the bot: the GitHub App user-authorization callback that completes `/deploy link` (docs/github-app.md). Off unless you set GITHUB_APP_CLIENT_ID / _SECRET."
  type        = bool
  default     = false
}

# ---------------------------------------------------------------------------
# The bot's task
# ---------------------------------------------------------------------------

variable "image" {
  description = "Image of the bot, pinned by digest: <registry>/<repository>@sha256:<64 hex>. A tag is refused: a tag can be moved, so a replaced or restarted task could run different code than the one deployed, and the circuit breaker could roll back to an image that no longer exists."
  type        = string

  validation {
    condition     = can(regex("^[a-z0-9.-]+(:[0-9]+)?/[a-z0-9._/-]+@sha256:[0-9a-f]{64}$", var.image))
    error_message = "image must be pinned by digest, e.g. 123456789012.dkr.ecr.us-east-1.amazonaws.com/chatops-bot@sha256:<64 hex digits>."
  }
}

variable "task_role_arn" {
  description = "The bot's IAM role (output role_arn of the chatops-bot module, trusted_service = ecs-tasks.amazonaws.com)."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:iam::[0-9]{12}:role/", var.task_role_arn))
    error_message = "task_role_arn must be an IAM role ARN."
  }
}

variable "secret_arns" {
  description = "Environment variable name -> Secrets Manager secret ARN injected into the container (output secret_arns of the chatops-bot module). DATABASE_URL is ignored here: the database connection comes from the RDS-managed secret."
  type        = map(string)

  validation {
    condition     = alltrue([for k, v in var.secret_arns : can(regex("^[A-Z][A-Z0-9_]{0,63}$", k)) && can(regex("^arn:aws[a-z-]*:secretsmanager:[a-z0-9-]+:[0-9]{12}:secret:[A-Za-z0-9/_+=.@-]+$", v))])
    error_message = "secret_arns must map upper-case environment variable names to Secrets Manager secret ARNs."
  }
}

variable "secrets_kms_key_arn" {
  description = "KMS key encrypting the bot's secrets (output kms_key_arn of the chatops-bot module); also encrypts the database's master password secret."
  type        = string

  validation {
    condition     = can(regex("^arn:aws[a-z-]*:kms:[a-z0-9-]+:[0-9]{12}:key/[0-9a-f-]+$", var.secrets_kms_key_arn))
    error_message = "secrets_kms_key_arn must be a KMS key ARN (not an alias)."
  }
}

variable "environment_variables" {
  description = "Plain (non-secret) environment variables of the container, e.g. GITHUB_APP_ID. The module sets PORT, CHATOPS_CONFIG, DATABASE_URL and PG* (PGSSLMODE, PGSSLROOTCERT included) itself."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k in keys(var.environment_variables) : can(regex("^[A-Z][A-Z0-9_]{0,63}$", k)) && !contains(["PORT", "HOST", "CHATOPS_CONFIG", "DATABASE_URL"], k) && !startswith(k, "PG")])
    error_message = "environment_variables must be upper-case names and must not set PORT, HOST, CHATOPS_CONFIG, DATABASE_URL or PG* (the module sets them)."
  }
}

variable "config_path" {
  description = "Path of chatops.yml inside the image (the image's CHATOPS_CONFIG default); bake your config into an image derived from the bot's (docs/deploy-aws.md)."
  type        = string
  default     = "/config/chatops.yml"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]+$", var.config_path))
    error_message = "config_path must be an absolute path."
  }
}

variable "desired_count" {
  description = "Number of bot tasks; at least two so that a deployment or the loss of one availability zone never stops the bot."
  type        = number
  default     = 2

  validation {
    condition     = var.desired_count >= 2 && var.desired_count <= 20 && floor(var.desired_count) == var.desired_count
    error_message = "desired_count must be a whole number between 2 and 20."
  }
}

variable "cpu" {
  description = "Fargate task CPU units."
  type        = number
  default     = 512

  validation {
    condition     = contains([256, 512, 1024, 2048, 4096], var.cpu)
    error_message = "cpu must be 256, 512, 1024, 2048 or 4096."
  }
}

variable "memory" {
  description = "Fargate task memory (MiB); must be a valid combination with cpu."
  type        = number
  default     = 1024

  validation {
    condition     = var.memory >= 512 && var.memory <= 30720
    error_message = "memory must be between 512 and 30720 MiB."
  }
}

variable "cpu_architecture" {
  description = "CPU architecture of the image: X86_64 or ARM64."
  type        = string
  default     = "X86_64"

  validation {
    condition     = contains(["X86_64", "ARM64"], var.cpu_architecture)
    error_message = "cpu_architecture must be X86_64 or ARM64."
  }
}

variable "log_retention_days" {
  description = "Days the bot's (and the database's) CloudWatch logs are kept."
  type        = number
  default     = 365

  validation {
    condition     = contains([1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653], var.log_retention_days)
    error_message = "log_retention_days must be a CloudWatch Logs retention value (1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288 or 3653)."
  }
}

# ---------------------------------------------------------------------------
# Database
# ---------------------------------------------------------------------------

variable "db_instance_class" {
  description = "RDS instance class of the PostgreSQL database."
  type        = string
  default     = "db.t4g.small"

  validation {
    condition     = can(regex("^db\\.[a-z0-9]+\\.[a-z0-9]+$", var.db_instance_class))
    error_message = "db_instance_class must be an RDS instance class such as db.t4g.small."
  }
}

variable "db_engine_version" {
  description = "PostgreSQL version (major 16; a bare \"16\" takes the newest minor and minor upgrades apply in the maintenance window)."
  type        = string
  default     = "16"

  validation {
    condition     = can(regex("^16(\\.[0-9]+)?$", var.db_engine_version))
    error_message = "db_engine_version must be PostgreSQL 16 (\"16\" or \"16.<minor>\")."
  }
}

variable "db_allocated_storage" {
  description = "Initial storage of the database (GiB, gp3)."
  type        = number
  default     = 20

  validation {
    condition     = var.db_allocated_storage >= 20 && var.db_allocated_storage <= 1000
    error_message = "db_allocated_storage must be between 20 and 1000 GiB."
  }
}

variable "db_max_allocated_storage" {
  description = "Storage autoscaling ceiling (GiB); at least db_allocated_storage."
  type        = number
  default     = 100

  validation {
    condition     = var.db_max_allocated_storage >= 20 && var.db_max_allocated_storage <= 2000
    error_message = "db_max_allocated_storage must be between 20 and 2000 GiB."
  }
}

variable "db_multi_az" {
  description = "Run the database as a Multi-AZ deployment (a standby in another zone, automatic failover). Keep true in production."
  type        = bool
  default     = true
}

variable "db_deletion_protection" {
  description = "Protect the database from deletion. Keep true in production; turn off only to destroy a dev stack."
  type        = bool
  default     = true
}

variable "db_backup_retention_days" {
  description = "Days of automated backups (point-in-time recovery window)."
  type        = number
  default     = 14

  validation {
    condition     = var.db_backup_retention_days >= 1 && var.db_backup_retention_days <= 35
    error_message = "db_backup_retention_days must be between 1 and 35."
  }
}

variable "db_iam_authentication" {
  description = "Enable IAM database authentication (for operators using rds-db:connect). The bot itself logs in with the RDS-managed password."
  type        = bool
  default     = true
}

variable "db_monitoring_interval" {
  description = "Enhanced Monitoring interval in seconds (0 turns it off)."
  type        = number
  default     = 60

  validation {
    condition     = contains([0, 1, 5, 10, 15, 30, 60], var.db_monitoring_interval)
    error_message = "db_monitoring_interval must be 0, 1, 5, 10, 15, 30 or 60."
  }
}

variable "db_sslmode" {
  description = "PGSSLMODE of the bot's connection. verify-full (default) checks the server certificate against db_sslrootcert and its name against the endpoint; verify-ca checks the chain only. require (encryption without verification) is refused: a man in the middle could read the database password."
  type        = string
  default     = "verify-full"

  validation {
    condition     = contains(["verify-ca", "verify-full"], var.db_sslmode)
    error_message = "db_sslmode must be verify-full or verify-ca (require does not verify the server)."
  }
}

variable "db_sslrootcert" {
  description = "PGSSLROOTCERT: path, inside the image, of the CA bundle the server certificate is checked against. The chatops-bot image carries AWS's RDS global bundle here (certs/SOURCES.md); change it only for an image of your own."
  type        = string
  default     = "/etc/ssl/certs/rds-global-bundle.pem"

  validation {
    condition     = can(regex("^/[A-Za-z0-9._/-]+$", var.db_sslrootcert))
    error_message = "db_sslrootcert must be an absolute path."
  }
}

variable "permissions_boundary_arn" {
  description = "Permissions boundary for the roles this module creates (task execution, RDS monitoring), or null for none."
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

variable "db_password_rotation_days" {
  description = "Days between rotations of the RDS-managed database password. Each rotation needs a new deployment of the service (running tasks hold the password they started with); see docs/deploy-aws.md."
  type        = number
  default     = 30

  validation {
    condition     = var.db_password_rotation_days >= 1 && var.db_password_rotation_days <= 365
    error_message = "db_password_rotation_days must be between 1 and 365."
  }
}

# The bot's compute on AWS: ECS on Fargate behind an Application Load Balancer, PostgreSQL on RDS.
#
# It reuses what the chatops-bot module made (the task role, the secrets and their KMS key) by ARN,
# and creates the rest: cluster, task definition, service, load balancer (only the bot's ingress paths
# are routed; everything else, /metrics and /healthz included, is a 404 at the load balancer), security
# groups, log groups, the database and a KMS key for logs and database storage.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  base_name  = "${var.name_prefix}-${var.environment}"

  # The image's user (Dockerfile: ARG UID=10001) and port.
  container_name = "bot"
  container_user = "10001:10001"
  container_port = 3000

  log_group_name = "/ecs/${local.base_name}-chatops-bot"
  log_group_arn  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:${local.log_group_name}"

  db_identifier      = "${local.base_name}-chatops"
  db_log_exports     = ["postgresql", "upgrade"]
  db_log_group_arns  = "arn:${local.partition}:logs:${local.region}:${local.account_id}:log-group:/aws/rds/instance/${local.db_identifier}/*"
  db_name            = "chatops"
  db_username        = "chatops"
  db_port            = 5432
  db_master_secret   = aws_db_instance.bot.master_user_secret[0].secret_arn
  db_master_password = "${local.db_master_secret}:password::"
  db_master_username = "${local.db_master_secret}:username::"

  # Secrets injected into the container: the bot's own (DATABASE_URL excluded: the connection comes from the
  # RDS-managed secret) plus the database login. Keys are environment variable names.
  bot_secret_arns = { for name, arn in var.secret_arns : name => arn if name != "DATABASE_URL" }

  # ECR repository of the image, when the image lives in ECR (the execution role may pull only from it).
  ecr_pattern        = "^([0-9]{12})\\.dkr\\.ecr\\.([a-z0-9-]+)\\.amazonaws\\.com(\\.cn)?/([a-z0-9._/-]+)@sha256:"
  ecr_match          = can(regex(local.ecr_pattern, var.image)) ? regex(local.ecr_pattern, var.image) : null
  ecr_repository_arn = local.ecr_match == null ? null : "arn:${local.partition}:ecr:${local.ecr_match[1]}:${local.ecr_match[0]}:repository/${local.ecr_match[3]}"
}

# ---------------------------------------------------------------------------
# KMS key for the log groups, the database storage and Performance Insights.
# (The database's master password secret uses the bot's secrets key, secrets_kms_key_arn.)
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: Resource "*" means this key only; the logs statement is limited by the kms:EncryptionContext:aws:logs:arn condition to this module's log groups.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: AWS requires Resource "*" (= this key) in key policies.
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: key administration is delegated to the account's IAM (as in chatops-bot); Resource "*" means this key only.
  # A key policy's Resource is always "*", meaning "this key". The account delegates to IAM, as in chatops-bot;
  # RDS uses the key through grants made by whoever applies this module.
  statement {
    sid    = "KeyPolicyAccountAdministers"
    effect = "Allow"
    actions = [
      "kms:CancelKeyDeletion",
      "kms:CreateAlias",
      "kms:CreateGrant",
      "kms:Decrypt",
      "kms:DeleteAlias",
      "kms:DescribeKey",
      "kms:DisableKey",
      "kms:DisableKeyRotation",
      "kms:EnableKey",
      "kms:EnableKeyRotation",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
      "kms:RetireGrant",
      "kms:RevokeGrant",
      "kms:ScheduleKeyDeletion",
      "kms:TagResource",
      "kms:UntagResource",
      "kms:UpdateAlias",
      "kms:UpdateKeyDescription",
    ]
    resources = ["*"]

    principals {
      type        = "AWS"
      identifiers = ["arn:${local.partition}:iam::${local.account_id}:root"]
    }
  }

  # CloudWatch Logs encrypts only this module's log groups with it.
  statement {
    sid    = "KeyPolicyCloudWatchLogs"
    effect = "Allow"
    actions = [
      "kms:Decrypt",
      "kms:DescribeKey",
      "kms:Encrypt",
      "kms:GenerateDataKey",
      "kms:GenerateDataKeyWithoutPlaintext",
      "kms:ReEncryptFrom",
      "kms:ReEncryptTo",
    ]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["logs.${local.region}.amazonaws.com"]
    }

    condition {
      test     = "ArnLike"
      variable = "kms:EncryptionContext:aws:logs:arn"
      values   = [local.log_group_arn, local.db_log_group_arns]
    }
  }
}

resource "aws_kms_key" "service" {
  description             = "${local.base_name} chatops bot logs and database"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms.json
  tags                    = var.tags
}

resource "aws_kms_alias" "service" {
  name          = "alias/${local.base_name}-chatops-service"
  target_key_id = aws_kms_key.service.key_id
}

# ---------------------------------------------------------------------------
# Logs: the bot's, and the database's (created here so they are encrypted and expire).
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_log_group" "bot" {
  name              = local.log_group_name
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.service.arn
  tags              = var.tags
}

resource "aws_cloudwatch_log_group" "db" {
  for_each = toset(local.db_log_exports)

  name              = "/aws/rds/instance/${local.db_identifier}/${each.value}"
  retention_in_days = var.log_retention_days
  kms_key_id        = aws_kms_key.service.arn
  tags              = var.tags
}

# ---------------------------------------------------------------------------
# DNS (optional)
# ---------------------------------------------------------------------------

resource "aws_route53_record" "bot" {
  # a boolean, not the zone id: a count must be known at plan, and a zone id may not be (issue 23 item 11)
  count = var.create_dns_record ? 1 : 0

  zone_id = var.route53_zone_id
  name    = var.domain_name
  type    = "A"

  alias {
    name                   = aws_lb.bot.dns_name
    zone_id                = aws_lb.bot.zone_id
    evaluate_target_health = true
  }
}

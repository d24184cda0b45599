# The bot's own IAM role and its secrets.
#
# The bot reads secrets only from environment variables (docs/secrets-and-variables.md).
# This module creates one Secrets Manager secret per variable, encrypted with a
# customer-managed key; the runtime (ECS `secrets`, or a Lambda extension) injects
# them. Secret values are never written by Terraform, so they never reach the state.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name
  base_name  = "${var.name_prefix}-${var.environment}"

  kms_key_arn = var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.secrets[0].arn

  function_arns = [
    for name in var.lambda_function_names :
    "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}"
  ]
  qualified_function_arns = [
    for name in var.lambda_function_names :
    "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}:*"
  ]
  alarm_arns       = [for name in var.alarm_names : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${name}"]
  web_bucket_arn   = var.web_bucket_name == null ? null : "arn:${local.partition}:s3:::${var.web_bucket_name}"
  distribution_arn = var.cloudfront_distribution_id == null ? null : "arn:${local.partition}:cloudfront::${local.account_id}:distribution/${var.cloudfront_distribution_id}"
}

# ---------------------------------------------------------------------------
# KMS key for the secrets (skipped when kms_key_arn is given).
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  count = var.kms_key_arn == null ? 1 : 0

  # A key policy's Resource is always "*", meaning "this key"; AWS rejects anything else.
  # The account delegates to IAM: only principals whose IAM policies name this key
  # (the bot role below, the infra apply role, operators) can use it.
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
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListGrants",
      "kms:ListKeyPolicies",
      "kms:ListResourceTags",
      "kms:PutKeyPolicy",
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
}

resource "aws_kms_key" "secrets" {
  count = var.kms_key_arn == null ? 1 : 0

  description             = "${local.base_name} chatops bot secrets"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = var.tags
}

resource "aws_kms_alias" "secrets" {
  count = var.kms_key_arn == null ? 1 : 0

  name          = "alias/${local.base_name}-chatops-secrets"
  target_key_id = aws_kms_key.secrets[0].key_id
}

# ---------------------------------------------------------------------------
# Secrets: containers only; values are put with `aws secretsmanager put-secret-value`.
# ---------------------------------------------------------------------------

resource "aws_secretsmanager_secret" "bot" {
  #checkov:skip=CKV2_AWS_57:Slack, GitHub App and webhook secrets are issued by third parties and cannot be rotated by a Lambda; docs/security.md gives the manual rotation procedure and cadence.
  for_each = toset(var.secrets)

  name                    = "${var.name_prefix}/${var.environment}/${lower(replace(each.value, "_", "-"))}"
  description             = "chatops bot (${var.environment}): value of the ${each.value} environment variable."
  kms_key_id              = local.kms_key_arn
  recovery_window_in_days = var.secret_recovery_window_days
  tags                    = merge(var.tags, { "chatops:env-var" = each.value })
}

# ---------------------------------------------------------------------------
# The bot's role.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "trust" {
  statement {
    sid     = "BotRuntimeAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = [var.trusted_service]
    }

    # Confused-deputy guard: only this account's tasks/functions.
    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "bot" {
  name                 = "${local.base_name}-chatops-bot"
  description          = "chatops bot (${var.environment}): reads its secrets and what /deploy status shows."
  assume_role_policy   = data.aws_iam_policy_document.trust.json
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

# Reading the secrets; also attach this to an ECS task *execution* role when ECS injects them.
data "aws_iam_policy_document" "secrets_read" {
  statement {
    sid       = "ReadBotSecrets"
    effect    = "Allow"
    actions   = ["secretsmanager:DescribeSecret", "secretsmanager:GetSecretValue"]
    resources = [for s in aws_secretsmanager_secret.bot : s.arn]
  }

  statement {
    sid       = "DecryptBotSecrets"
    effect    = "Allow"
    actions   = ["kms:Decrypt"]
    resources = [local.kms_key_arn]

    condition {
      test     = "StringEquals"
      variable = "kms:ViaService"
      values   = ["secretsmanager.${local.region}.amazonaws.com"]
    }
  }
}

data "aws_iam_policy_document" "bot" {
  source_policy_documents = [data.aws_iam_policy_document.secrets_read.json]

  dynamic "statement" {
    for_each = length(var.lambda_function_names) == 0 ? [] : [1]
    content {
      sid    = "ReadDeployStatus"
      effect = "Allow"
      actions = [
        "lambda:GetAlias",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:ListAliases",
        "lambda:ListVersionsByFunction",
      ]
      resources = concat(local.function_arns, local.qualified_function_arns)
    }
  }

  dynamic "statement" {
    for_each = length(local.alarm_arns) == 0 ? [] : [local.alarm_arns]
    content {
      sid       = "ReadAlarms"
      effect    = "Allow"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = statement.value
    }
  }

  dynamic "statement" {
    for_each = local.web_bucket_arn == null ? [] : [local.web_bucket_arn]
    content {
      sid       = "ListWebReleases"
      effect    = "Allow"
      actions   = ["s3:ListBucket"]
      resources = [statement.value]

      condition {
        test     = "StringLike"
        variable = "s3:prefix"
        values   = ["${var.web_release_prefix}*"]
      }
    }
  }

  dynamic "statement" {
    for_each = local.web_bucket_arn == null ? [] : [local.web_bucket_arn]
    content {
      sid       = "ReadWebReleases"
      effect    = "Allow"
      actions   = ["s3:GetObject"]
      resources = ["${statement.value}/${var.web_release_prefix}*"]
    }
  }

  dynamic "statement" {
    for_each = local.distribution_arn == null ? [] : [local.distribution_arn]
    content {
      sid       = "ReadDistribution"
      effect    = "Allow"
      actions   = ["cloudfront:GetDistribution", "cloudfront:ListInvalidations"]
      resources = [statement.value]
    }
  }

  # the security-events target queue and its delivery dead-letter queue (issue 24 item 3): the bot drains both
  dynamic "statement" {
    for_each = var.events_queue_arn == null && var.events_dead_letter_queue_arn == null ? [] : [1]
    content {
      sid    = "ConsumeSecurityEvents"
      effect = "Allow"
      actions = [
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
      ]
      resources = compact([var.events_queue_arn, var.events_dead_letter_queue_arn])
    }
  }

  # what the bot cannot read or record is parked for people (security.sqs.dead_letter_queue_url)
  dynamic "statement" {
    for_each = var.events_parked_queue_arn == null ? [] : [var.events_parked_queue_arn]
    content {
      sid       = "ParkUnreadableSecurityEvents"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [statement.value]
    }
  }

  dynamic "statement" {
    for_each = var.events_queue_kms_key_arn == null && var.events_dead_letter_queue_kms_key_arn == null ? [] : [1]
    content {
      sid       = "DecryptSecurityEvents"
      effect    = "Allow"
      actions   = ["kms:Decrypt"]
      resources = compact([var.events_queue_kms_key_arn, var.events_dead_letter_queue_kms_key_arn])
    }
  }
}

resource "aws_iam_role_policy" "bot" {
  name   = "chatops-bot"
  role   = aws_iam_role.bot.id
  policy = data.aws_iam_policy_document.bot.json
}

# Delivery of matched events to the bot, chosen by var.target_type, with a retry
# policy and a dead-letter queue for every target type.

locals {
  use_api_destination = var.target_type == "api_destination"
  use_sqs             = var.target_type == "sqs"
  use_sns             = var.target_type == "sns"

  create_kms_key = local.use_sns && var.kms_key_arn == null
  topic_kms_key  = local.use_sns ? (var.kms_key_arn != null ? var.kms_key_arn : aws_kms_key.events[0].arn) : null

  target_arn = (
    local.use_api_destination ? aws_cloudwatch_event_api_destination.bot[0].arn :
    local.use_sqs ? aws_sqs_queue.events[0].arn :
    aws_sns_topic.events[0].arn
  )
}

check "target_inputs" {
  assert {
    condition     = var.target_type == "sqs" || var.bot_base_url != null
    error_message = "bot_base_url is required for the api_destination and sns targets."
  }
  assert {
    condition     = var.target_type != "api_destination" || var.api_key_secret_arn != null
    error_message = "api_key_secret_arn is required for the api_destination target."
  }
}

# ---------------------------------------------------------------------------
# Delivery dead-letter queue (all target types), drained by the bot, and the parked queue.
#
# EventBridge puts an event its target could not deliver here (the event as the body, plus the message attributes
# RULE_ARN, TARGET_ARN, ERROR_CODE, ERROR_MESSAGE, EXHAUSTED_RETRY_CONDITION, RETRY_ATTEMPTS: EventBridge User
# Guide, "Using dead-letter queues to process undelivered events"), and SNS a notification its HTTPS subscription
# could not deliver (the SNS JSON envelope). The bot drains it through its SQS ingress (security.sqs.delivery_dlq_url)
# keyed by event id, so a late copy changes nothing. What the bot cannot record after 5 receives, and what it
# finds unreadable, goes to the parked queue (security.sqs.dead_letter_queue_url), which nobody drains: people look.
# ---------------------------------------------------------------------------

locals {
  # SNS writes to an encrypted dead-letter queue only with a customer-managed key whose policy lets
  # sns.amazonaws.com use it (Amazon SNS Developer Guide, "Amazon SNS dead-letter queues"): the topic's key.
  dlq_kms_key = local.use_sns ? local.topic_kms_key : var.kms_key_arn

  # queues the bot drains; an alarm fires when their oldest message is older than dead_letter_age_alarm_seconds
  drained_queues = merge(
    { "delivery-dlq" = aws_sqs_queue.dlq.name },
    local.use_sqs ? { "events" = aws_sqs_queue.events[0].name } : {},
  )
}

resource "aws_sqs_queue" "parked" {
  name                      = "${var.name_prefix}-security-events-parked"
  message_retention_seconds = 1209600
  kms_master_key_id         = var.kms_key_arn
  sqs_managed_sse_enabled   = var.kms_key_arn == null ? true : null
  tags                      = var.tags
}

resource "aws_sqs_queue" "dlq" {
  name                       = "${var.name_prefix}-security-events-dlq"
  message_retention_seconds  = 1209600
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  kms_master_key_id          = local.dlq_kms_key
  sqs_managed_sse_enabled    = local.dlq_kms_key == null ? true : null
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.parked.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

data "aws_iam_policy_document" "dlq" {
  statement {
    sid       = "EventBridgeRulesDeadLetter"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.dlq.arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns
    }
  }

  dynamic "statement" {
    for_each = local.use_sns ? [1] : []
    content {
      sid       = "SnsSubscriptionDeadLetter"
      effect    = "Allow"
      actions   = ["sqs:SendMessage"]
      resources = [aws_sqs_queue.dlq.arn]

      principals {
        type        = "Service"
        identifiers = ["sns.amazonaws.com"]
      }

      condition {
        test     = "ArnEquals"
        variable = "aws:SourceArn"
        values   = [aws_sns_topic.events[0].arn]
      }
    }
  }
}

resource "aws_sqs_queue_policy" "dlq" {
  queue_url = aws_sqs_queue.dlq.id
  policy    = data.aws_iam_policy_document.dlq.json
}

# The bot drains these queues: an old message means it is not (down, no permission, a queue URL not configured).
resource "aws_cloudwatch_metric_alarm" "queue_age" {
  for_each = local.drained_queues

  alarm_name          = "${var.name_prefix}-security-events-${each.key}-age"
  alarm_description   = "Security events wait in ${each.value} and the chatops bot is not draining it; see docs/troubleshooting.md."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateAgeOfOldestMessage"
  dimensions          = { QueueName = each.value }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = var.dead_letter_age_alarm_seconds
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

# Nobody drains the parked queue: anything in it needs a person.
resource "aws_cloudwatch_metric_alarm" "parked_not_empty" {
  alarm_name          = "${var.name_prefix}-security-events-parked-not-empty"
  alarm_description   = "Security events the chatops bot could not read or record were parked; see docs/troubleshooting.md."
  namespace           = "AWS/SQS"
  metric_name         = "ApproximateNumberOfMessagesVisible"
  dimensions          = { QueueName = aws_sqs_queue.parked.name }
  statistic           = "Maximum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

# ---------------------------------------------------------------------------
# Target 1: API destination (POST <bot>/aws/events, x-api-key header).
# ---------------------------------------------------------------------------

# The API key never passes through Terraform, so it is not in the state (which the plan role reads):
# the connection is created with a placeholder and infra/scripts/set-events-api-key.sh copies the bot's
# key (api_key_secret_arn) into it with `aws events update-connection` (output set_api_key_command).
# Until then EventBridge's calls are refused by the bot (401) and kept in the dead-letter queue.
resource "aws_cloudwatch_event_connection" "bot" {
  count = local.use_api_destination ? 1 : 0

  name               = "${var.name_prefix}-chatops-bot"
  description        = "chatops bot: API key sent as x-api-key"
  authorization_type = "API_KEY"

  # EventBridge keeps the credentials in a Secrets Manager secret of its own (output connection_secret_arn).
  auth_parameters {
    api_key {
      key   = "x-api-key"
      value = "placeholder-run-set-events-api-key" # not the key: see above
    }
  }

  lifecycle {
    ignore_changes = [auth_parameters] # the real key is set out of band and must not be reverted
  }
}

resource "aws_cloudwatch_event_api_destination" "bot" {
  count = local.use_api_destination ? 1 : 0

  name                             = "${var.name_prefix}-chatops-bot"
  description                      = "chatops bot /aws/events"
  invocation_endpoint              = "${var.bot_base_url}/aws/events"
  http_method                      = "POST"
  invocation_rate_limit_per_second = var.invocation_rate_limit_per_second
  connection_arn                   = aws_cloudwatch_event_connection.bot[0].arn
}

data "aws_iam_policy_document" "invoke_trust" {
  count = local.use_api_destination ? 1 : 0

  statement {
    sid     = "EventBridgeAssumesRole"
    effect  = "Allow"
    actions = ["sts:AssumeRole"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_iam_role" "invoke" {
  count = local.use_api_destination ? 1 : 0

  name               = "${var.name_prefix}-events-invoke-bot"
  description        = "Lets EventBridge call the chatops bot API destination."
  assume_role_policy = data.aws_iam_policy_document.invoke_trust[0].json
  tags               = var.tags
}

data "aws_iam_policy_document" "invoke" {
  count = local.use_api_destination ? 1 : 0

  statement {
    sid       = "InvokeBotApiDestination"
    effect    = "Allow"
    actions   = ["events:InvokeApiDestination"]
    resources = [aws_cloudwatch_event_api_destination.bot[0].arn]
  }
}

resource "aws_iam_role_policy" "invoke" {
  count = local.use_api_destination ? 1 : 0

  name   = "invoke-api-destination"
  role   = aws_iam_role.invoke[0].id
  policy = data.aws_iam_policy_document.invoke[0].json
}

# ---------------------------------------------------------------------------
# Target 2: SQS queue the bot polls.
# ---------------------------------------------------------------------------

resource "aws_sqs_queue" "events" {
  count = local.use_sqs ? 1 : 0

  name                       = "${var.name_prefix}-security-events"
  message_retention_seconds  = 345600
  visibility_timeout_seconds = var.queue_visibility_timeout_seconds
  receive_wait_time_seconds  = 20
  kms_master_key_id          = var.kms_key_arn
  sqs_managed_sse_enabled    = var.kms_key_arn == null ? true : null
  redrive_policy = jsonencode({
    deadLetterTargetArn = aws_sqs_queue.parked.arn
    maxReceiveCount     = 5
  })
  tags = var.tags
}

data "aws_iam_policy_document" "events_queue" {
  count = local.use_sqs ? 1 : 0

  statement {
    sid       = "OnlyTheDetectionRulesSend"
    effect    = "Allow"
    actions   = ["sqs:SendMessage"]
    resources = [aws_sqs_queue.events[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns
    }
  }
}

resource "aws_sqs_queue_policy" "events" {
  count = local.use_sqs ? 1 : 0

  queue_url = aws_sqs_queue.events[0].id
  policy    = data.aws_iam_policy_document.events_queue[0].json
}

# ---------------------------------------------------------------------------
# Target 3: SNS topic with an HTTPS subscription to <bot>/aws/sns.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "kms" {
  count = local.create_kms_key ? 1 : 0
  #checkov:skip=CKV_AWS_111:This is a KMS key policy: Resource "*" means this key only; writers are limited to the SNS and EventBridge service principals by the statements below.
  #checkov:skip=CKV_AWS_356:This is a KMS key policy: AWS requires Resource "*" (= this key) in key policies.
  #checkov:skip=CKV_AWS_109:This is a KMS key policy: key administration is delegated to the account's IAM; Resource "*" means this key only.

  # Key policies always use Resource "*" (= this key); AWS rejects anything else.
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

  # EventBridge publishes to the encrypted topic (it cannot use the AWS-managed SNS key).
  statement {
    sid       = "KeyPolicyEventBridgePublishes"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }

  # SNS moves undeliverable notifications into the dead-letter queue, which this key encrypts for an sns target.
  statement {
    sid       = "KeyPolicySnsDeadLetters"
    effect    = "Allow"
    actions   = ["kms:Decrypt", "kms:GenerateDataKey"]
    resources = ["*"]

    principals {
      type        = "Service"
      identifiers = ["sns.amazonaws.com"]
    }

    condition {
      test     = "StringEquals"
      variable = "aws:SourceAccount"
      values   = [local.account_id]
    }
  }
}

resource "aws_kms_key" "events" {
  count = local.create_kms_key ? 1 : 0

  description             = "${var.name_prefix} chatops security events topic"
  enable_key_rotation     = true
  deletion_window_in_days = 30
  policy                  = data.aws_iam_policy_document.kms[0].json
  tags                    = var.tags
}

resource "aws_sns_topic" "events" {
  count = local.use_sns ? 1 : 0

  name              = "${var.name_prefix}-security-events"
  kms_master_key_id = local.topic_kms_key
  tags              = var.tags
}

data "aws_iam_policy_document" "events_topic" {
  count = local.use_sns ? 1 : 0

  statement {
    sid       = "OnlyTheDetectionRulesPublish"
    effect    = "Allow"
    actions   = ["sns:Publish"]
    resources = [aws_sns_topic.events[0].arn]

    principals {
      type        = "Service"
      identifiers = ["events.amazonaws.com"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:SourceArn"
      values   = local.rule_arns
    }
  }
}

resource "aws_sns_topic_policy" "events" {
  count = local.use_sns ? 1 : 0

  arn    = aws_sns_topic.events[0].arn
  policy = data.aws_iam_policy_document.events_topic[0].json
}

resource "aws_sns_topic_subscription" "bot" {
  count = local.use_sns ? 1 : 0

  topic_arn = aws_sns_topic.events[0].arn
  protocol  = "https"
  endpoint  = "${var.bot_base_url}/aws/sns"
  # The bot verifies the SNS message signature, so it needs the full envelope,
  # and it confirms the subscription itself (SubscriptionConfirmation).
  raw_message_delivery = false
  # true makes apply wait (confirmation_timeout_in_minutes) until the endpoint has confirmed, which fails on a fresh
  # stack where the bot is not up yet. By default apply does not wait: the subscription stays pending until the bot
  # confirms (output sns_subscription_pending_confirmation; README "sns" for re-sending the confirmation).
  endpoint_auto_confirms          = var.sns_wait_for_confirmation
  confirmation_timeout_in_minutes = var.sns_confirmation_timeout_in_minutes
  redrive_policy                  = jsonencode({ deadLetterTargetArn = aws_sqs_queue.dlq.arn })
  delivery_policy = jsonencode({
    healthyRetryPolicy = {
      numRetries         = 20
      numNoDelayRetries  = 0
      minDelayTarget     = 5
      maxDelayTarget     = 300
      numMinDelayRetries = 3
      numMaxDelayRetries = 10
      backoffFunction    = "exponential"
    }
  })
}

# ---------------------------------------------------------------------------
# One target per rule.
# ---------------------------------------------------------------------------

resource "aws_cloudwatch_event_target" "bot" {
  for_each = local.detections

  rule      = aws_cloudwatch_event_rule.detection[each.key].name
  target_id = "chatops-bot"
  arn       = local.target_arn
  role_arn  = local.use_api_destination ? aws_iam_role.invoke[0].arn : null

  retry_policy {
    maximum_event_age_in_seconds = var.maximum_event_age_in_seconds
    maximum_retry_attempts       = var.maximum_retry_attempts
  }

  dead_letter_config {
    arn = aws_sqs_queue.dlq.arn
  }
}

resource "aws_cloudwatch_metric_alarm" "failed_invocations" {
  for_each = local.detections

  alarm_name          = "${var.name_prefix}-${each.key}-failed-invocations"
  alarm_description   = "EventBridge could not deliver ${each.key} events to the chatops bot; see docs/troubleshooting.md."
  namespace           = "AWS/Events"
  metric_name         = "FailedInvocations"
  dimensions          = { RuleName = aws_cloudwatch_event_rule.detection[each.key].name }
  statistic           = "Sum"
  period              = 300
  evaluation_periods  = 1
  threshold           = 0
  comparison_operator = "GreaterThanThreshold"
  treat_missing_data  = "notBreaching"
  alarm_actions       = var.alarm_actions
  tags                = var.tags
}

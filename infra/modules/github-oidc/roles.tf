# ---------------------------------------------------------------------------
# Terraform state access shared by the plan (read + lock) and apply (read/write + lock) roles.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "state_read" {
  statement {
    sid       = "ListStatePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.state_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.state_key_prefix}*"]
    }
  }

  statement {
    sid       = "ReadState"
    effect    = "Allow"
    actions   = ["s3:GetObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key_prefix}*"]
  }

  # S3 native locking (use_lockfile): plan also takes the lock.
  statement {
    sid       = "StateLockFile"
    effect    = "Allow"
    actions   = ["s3:PutObject", "s3:DeleteObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key_prefix}*.tflock"]
  }

  dynamic "statement" {
    for_each = local.state_lock_table_arn == null ? [] : [local.state_lock_table_arn]
    content {
      sid       = "StateLockTable"
      effect    = "Allow"
      actions   = ["dynamodb:DescribeTable", "dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:DeleteItem"]
      resources = [statement.value]
    }
  }
}

data "aws_iam_policy_document" "state_write" {
  source_policy_documents = [data.aws_iam_policy_document.state_read.json]

  statement {
    sid       = "WriteState"
    effect    = "Allow"
    actions   = ["s3:PutObject"]
    resources = ["${local.state_bucket_arn}/${var.state_key_prefix}*"]
  }
}

# ---------------------------------------------------------------------------
# infra plan: read-only, on pull requests and on main (no environment).
# ---------------------------------------------------------------------------

resource "aws_iam_role" "infra_plan" {
  name                 = "${var.name_prefix}-github-infra-plan"
  description          = "terraform plan from ${var.github_repository} (pull requests and main); read-only."
  assume_role_policy   = data.aws_iam_policy_document.trust_infra_plan.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "infra_plan" {
  # keyed by the caller's names: a for_each key must be known at plan, an ARN may not be
  for_each = var.plan_policy_arns

  role       = aws_iam_role.infra_plan.name
  policy_arn = each.value
}

# The plan role reads the state and nothing secret: no secret value lives in the state (the EventBridge
# API key is set outside Terraform), and plan_secret_arns is ignored. Pull requests from any branch
# can assume this role (and run their own copy of infra-ci.yml), so it grants what `terraform plan` of this
# configuration reads and nothing more (issue 22 item 12: it was AWS ReadOnlyAccess, which reads every S3 object,
# DynamoDB item, queue message and log event of the account): the state objects (state_read) and the
# describe / list / get-configuration calls that refresh the resource types of infra/modules/* (the provider's read
# functions, terraform-provider-aws internal/service/<service>/<type>.go). No call here returns data: no object or
# item reads, no secret values, no messages, no log events, no KMS decrypt (access levels: the Service
# Authorization Reference, https://docs.aws.amazon.com/service-authorization/latest/reference/). tests/infra
# checks the list against the resource types the modules use and a deny-list of data reads.
data "aws_iam_policy_document" "infra_plan_refresh" {
  #checkov:skip=CKV_AWS_356:Configuration reads for terraform refresh only (no action here returns data: no object, item, secret value, message or log event). Several have no resource-level permissions (ec2/elasticloadbalancing Describe*, kms:ListAliases, logs:DescribeLogGroups), and the plan reads resources whose ARNs it only learns from the state; tests/infra checks the list against the modules' resource types and a deny-list of data reads.
  statement {
    # Describe/List/Get of configuration have no resource-level permissions for most of these services (or are
    # listed across the account); they return settings and tags, never payloads.
    sid    = "PlanRefreshConfiguration"
    effect = "Allow"
    actions = [
      "cloudwatch:DescribeAlarms",
      "cloudwatch:ListTagsForResource",
      "ec2:DescribeSecurityGroupRules",
      "ec2:DescribeSecurityGroups",
      "ecs:DescribeClusters",
      "ecs:DescribeServices",
      "ecs:DescribeTaskDefinition",
      "ecs:ListTagsForResource",
      "elasticloadbalancing:DescribeListenerAttributes",
      "elasticloadbalancing:DescribeListeners",
      "elasticloadbalancing:DescribeLoadBalancerAttributes",
      "elasticloadbalancing:DescribeLoadBalancers",
      "elasticloadbalancing:DescribeRules",
      "elasticloadbalancing:DescribeTags",
      "elasticloadbalancing:DescribeTargetGroupAttributes",
      "elasticloadbalancing:DescribeTargetGroups",
      "events:DescribeApiDestination",
      "events:DescribeConnection",
      "events:DescribeRule",
      "events:ListTagsForResource",
      "events:ListTargetsByRule",
      "iam:GetOpenIDConnectProvider",
      "iam:GetRole",
      "iam:GetRolePolicy",
      "iam:ListAttachedRolePolicies",
      "iam:ListRolePolicies",
      "kms:DescribeKey",
      "kms:GetKeyPolicy",
      "kms:GetKeyRotationStatus",
      "kms:ListAliases",
      "kms:ListResourceTags",
      "logs:DescribeLogGroups",
      "logs:ListTagsForResource",
      "logs:ListTagsLogGroup",
      "rds:DescribeDBInstances",
      "rds:DescribeDBParameterGroups",
      "rds:DescribeDBParameters",
      "rds:DescribeDBSubnetGroups",
      "rds:ListTagsForResource",
      "route53:GetHostedZone",
      "route53:ListResourceRecordSets",
      "secretsmanager:DescribeSecret",
      "secretsmanager:GetResourcePolicy",
      "sns:GetSubscriptionAttributes",
      "sns:GetTopicAttributes",
      "sns:ListTagsForResource",
      "sqs:GetQueueAttributes",
      "sqs:GetQueueUrl",
      "sqs:ListQueueTags",
    ]
    resources = ["*"]
  }
}

data "aws_iam_policy_document" "infra_plan" {
  source_policy_documents = [
    data.aws_iam_policy_document.state_read.json,
    data.aws_iam_policy_document.infra_plan_refresh.json,
  ]
}

resource "aws_iam_role_policy" "infra_plan" {
  name   = "terraform-plan-read"
  role   = aws_iam_role.infra_plan.id
  policy = data.aws_iam_policy_document.infra_plan.json
}

# ---------------------------------------------------------------------------
# infra apply: only from the apply environment (the environment this account serves).
# ---------------------------------------------------------------------------

resource "aws_iam_role" "infra_apply" {
  name                 = "${var.name_prefix}-github-infra-apply"
  description          = "terraform apply from ${var.github_repository}, environment ${var.apply_environment} only."
  assume_role_policy   = data.aws_iam_policy_document.trust_infra_apply.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "infra_apply" {
  # keyed by the caller's names: a for_each key must be known at plan, an ARN may not be
  for_each = var.apply_policy_arns

  role       = aws_iam_role.infra_apply.name
  policy_arn = each.value
}

resource "aws_iam_role_policy" "infra_apply" {
  name   = "terraform-state-write"
  role   = aws_iam_role.infra_apply.id
  policy = data.aws_iam_policy_document.state_write.json
}


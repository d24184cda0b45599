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
# infra plan: read-only, from main or the plan environment.
# ---------------------------------------------------------------------------

resource "aws_iam_role" "infra_plan" {
  name                 = "${var.name_prefix}-github-infra-plan"
  description          = "terraform plan from ${var.github_repository} (main or environment ${var.plan_environment}); read-only."
  assume_role_policy   = data.aws_iam_policy_document.trust_infra_plan.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy_attachment" "infra_plan" {
  for_each = toset(var.plan_policy_arns)

  role       = aws_iam_role.infra_plan.name
  policy_arn = each.value
}

data "aws_iam_policy_document" "infra_plan" {
  source_policy_documents = [data.aws_iam_policy_document.state_read.json]

  dynamic "statement" {
    for_each = length(var.plan_secret_arns) == 0 ? [] : [var.plan_secret_arns]
    content {
      sid       = "ReadPlannedSecrets"
      effect    = "Allow"
      actions   = ["secretsmanager:GetSecretValue", "secretsmanager:DescribeSecret"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role_policy" "infra_plan" {
  name   = "terraform-state-read"
  role   = aws_iam_role.infra_plan.id
  policy = data.aws_iam_policy_document.infra_plan.json
}

# ---------------------------------------------------------------------------
# infra apply: only from the apply (production) environment.
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
  for_each = toset(var.apply_policy_arns)

  role       = aws_iam_role.infra_apply.name
  policy_arn = each.value
}

resource "aws_iam_role_policy" "infra_apply" {
  name   = "terraform-state-write"
  role   = aws_iam_role.infra_apply.id
  policy = data.aws_iam_policy_document.state_write.json
}

# ---------------------------------------------------------------------------
# Lambda build and deploy: ECR push to the named repositories, update/publish of
# the named functions, alias moves (blue/green shifting and instant rollback).
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_deploy" {
  count = local.create_lambda_role ? 1 : 0

  dynamic "statement" {
    for_each = length(var.ecr_repository_names) == 0 ? [] : [1]
    content {
      # ecr:GetAuthorizationToken has no resource-level permissions: AWS only
      # accepts "*" here. It returns a registry login token; what can be pushed
      # is limited by the next statement.
      sid       = "EcrGetAuthorizationToken"
      effect    = "Allow"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.ecr_repository_names) == 0 ? [] : [local.ecr_repository_arns]
    content {
      sid    = "EcrPushNamedRepositories"
      effect = "Allow"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = statement.value
    }
  }

  statement {
    sid    = "LambdaDeployNamedFunctions"
    effect = "Allow"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:ListAliases",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
    ]
    resources = local.lambda_function_arns
  }

  dynamic "statement" {
    for_each = length(local.alarm_arns) == 0 ? [] : [local.alarm_arns]
    content {
      sid       = "ReadCanaryAlarms"
      effect    = "Allow"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role" "lambda_deploy" {
  count = local.create_lambda_role ? 1 : 0

  name                 = "${var.name_prefix}-github-lambda-deploy"
  description          = "Lambda build and deploy from ${var.github_repository}, environment ${var.deploy_environment} only."
  assume_role_policy   = data.aws_iam_policy_document.trust_lambda_deploy.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "lambda_deploy" {
  count = local.create_lambda_role ? 1 : 0

  name   = "lambda-deploy"
  role   = aws_iam_role.lambda_deploy[0].id
  policy = data.aws_iam_policy_document.lambda_deploy[0].json
}

# ---------------------------------------------------------------------------
# Web deploy: the bucket's release prefix and one distribution's invalidations.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "web_deploy" {
  count = local.create_web_role ? 1 : 0

  statement {
    sid       = "ListReleasePrefix"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.web_bucket_arn]

    condition {
      test     = "StringLike"
      variable = "s3:prefix"
      values   = ["${var.web_release_prefix}*"]
    }
  }

  statement {
    sid       = "WriteReleasePrefix"
    effect    = "Allow"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${local.web_bucket_arn}/${var.web_release_prefix}*"]
  }

  statement {
    sid    = "InvalidateDistribution"
    effect = "Allow"
    actions = [
      "cloudfront:CreateInvalidation",
      "cloudfront:GetDistribution",
      "cloudfront:GetInvalidation",
      "cloudfront:ListInvalidations",
    ]
    resources = [local.web_distribution_arn]
  }

  dynamic "statement" {
    for_each = var.web_allow_origin_path_switch ? [1] : []
    content {
      sid       = "SwitchOriginPath"
      effect    = "Allow"
      actions   = ["cloudfront:GetDistributionConfig", "cloudfront:UpdateDistribution"]
      resources = [local.web_distribution_arn]
    }
  }
}

resource "aws_iam_role" "web_deploy" {
  count = local.create_web_role ? 1 : 0

  name                 = "${var.name_prefix}-github-web-deploy"
  description          = "Web (S3 + CloudFront) deploy from ${var.github_repository}, environment ${var.deploy_environment} only."
  assume_role_policy   = data.aws_iam_policy_document.trust_web_deploy.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "web_deploy" {
  count = local.create_web_role ? 1 : 0

  name   = "web-deploy"
  role   = aws_iam_role.web_deploy[0].id
  policy = data.aws_iam_policy_document.web_deploy[0].json
}

# ---------------------------------------------------------------------------
# API deploy: the API's functions (and images), plus optional REST API stage deployments.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "api_deploy" {
  count = local.create_api_role ? 1 : 0

  dynamic "statement" {
    for_each = length(var.api_ecr_repository_names) == 0 ? [] : [1]
    content {
      # No resource-level permissions exist for this action (see lambda_deploy).
      sid       = "EcrGetAuthorizationToken"
      effect    = "Allow"
      actions   = ["ecr:GetAuthorizationToken"]
      resources = ["*"]
    }
  }

  dynamic "statement" {
    for_each = length(var.api_ecr_repository_names) == 0 ? [] : [local.api_ecr_repository_arns]
    content {
      sid    = "EcrPushNamedRepositories"
      effect = "Allow"
      actions = [
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:DescribeImages",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
      ]
      resources = statement.value
    }
  }

  statement {
    sid    = "LambdaDeployApiFunctions"
    effect = "Allow"
    actions = [
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      "lambda:ListAliases",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
    ]
    resources = local.api_function_arns
  }

  dynamic "statement" {
    for_each = var.api_gateway_rest_api_id == null ? [] : [var.api_gateway_rest_api_id]
    content {
      sid     = "DeployRestApiStages"
      effect  = "Allow"
      actions = ["apigateway:GET", "apigateway:POST", "apigateway:PATCH"]
      resources = [
        "arn:${local.partition}:apigateway:${local.region}::/restapis/${statement.value}/deployments",
        "arn:${local.partition}:apigateway:${local.region}::/restapis/${statement.value}/stages/*",
      ]
    }
  }

  dynamic "statement" {
    for_each = length(local.alarm_arns) == 0 ? [] : [local.alarm_arns]
    content {
      sid       = "ReadCanaryAlarms"
      effect    = "Allow"
      actions   = ["cloudwatch:DescribeAlarms"]
      resources = statement.value
    }
  }
}

resource "aws_iam_role" "api_deploy" {
  count = local.create_api_role ? 1 : 0

  name                 = "${var.name_prefix}-github-api-deploy"
  description          = "API deploy from ${var.github_repository}, environment ${var.deploy_environment} only."
  assume_role_policy   = data.aws_iam_policy_document.trust_api_deploy.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "api_deploy" {
  count = local.create_api_role ? 1 : 0

  name   = "api-deploy"
  role   = aws_iam_role.api_deploy[0].id
  policy = data.aws_iam_policy_document.api_deploy[0].json
}

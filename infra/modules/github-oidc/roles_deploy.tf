# ---------------------------------------------------------------------------
# Lambda and API deploy: what the release engine (lambda-deploy, lambda-rollback) and the
# deploy job's `aws ecr describe-*` steps call. No ECR push (that is the build role).
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "lambda_deploy" {
  count = local.create_lambda_role ? 1 : 0

  dynamic "statement" {
    for_each = length(var.ecr_repository_names) == 0 ? [] : [local.ecr_repository_arns]
    content {
      # UpdateFunctionCode with an ImageUri: the caller must be able to read the image
      # (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer). The deploy job resolves the pushed
      # tag to its digest with describe-repositories and describe-images.
      sid    = "EcrReadDeployedImages"
      effect = "Allow"
      actions = [
        "ecr:BatchGetImage",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = statement.value
    }
  }

  statement {
    # GetFunction: the function_updated_v2 waiter; CreateAlias: the first deploy of a function
    # (defect 3); ListVersionsByFunction: rollback to a named release.
    sid    = "LambdaDeployNamedFunctions"
    effect = "Allow"
    actions = [
      "lambda:CreateAlias",
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      # the engine invokes the new version by its qualifier with the health event before it gets traffic
      "lambda:InvokeFunction",
      "lambda:ListVersionsByFunction",
      "lambda:PublishVersion",
      "lambda:UpdateAlias",
      "lambda:UpdateFunctionCode",
    ]
    resources = local.lambda_function_arns
  }

  statement {
    # The engine reads the new version's own metrics (AWS/Lambda by ExecutedVersion) during each bake.
    # GetMetricData has no resource-level permissions: "*" is the only resource it accepts.
    sid       = "ReadVersionMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(var.lambda_alarm_names) == 0 ? [] : [local.alarm_arns]
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
  description          = "Lambda deploy and rollback from ${var.github_repository}, environment ${var.deploy_environment} only."
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
# API deploy: the API's functions, plus optional REST API stage deployments.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "api_deploy" {
  count = local.create_api_role ? 1 : 0

  dynamic "statement" {
    for_each = length(var.api_ecr_repository_names) == 0 ? [] : [local.api_ecr_repository_arns]
    content {
      # UpdateFunctionCode with an ImageUri: the caller must be able to read the image
      # (ecr:BatchGetImage, ecr:GetDownloadUrlForLayer). The deploy job resolves the pushed
      # tag to its digest with describe-repositories and describe-images.
      sid    = "EcrReadDeployedImages"
      effect = "Allow"
      actions = [
        "ecr:BatchGetImage",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
        "ecr:GetDownloadUrlForLayer",
      ]
      resources = statement.value
    }
  }

  statement {
    # As LambdaDeployNamedFunctions.
    sid    = "LambdaDeployApiFunctions"
    effect = "Allow"
    actions = [
      "lambda:CreateAlias",
      "lambda:GetAlias",
      "lambda:GetFunction",
      "lambda:GetFunctionConfiguration",
      # the engine invokes the new version by its qualifier with the health event before it gets traffic
      "lambda:InvokeFunction",
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

  statement {
    # The engine reads the new version's own metrics (AWS/Lambda by ExecutedVersion) during each bake.
    # GetMetricData has no resource-level permissions: "*" is the only resource it accepts.
    sid       = "ReadVersionMetrics"
    effect    = "Allow"
    actions   = ["cloudwatch:GetMetricData"]
    resources = ["*"]
  }

  dynamic "statement" {
    for_each = length(var.lambda_alarm_names) == 0 ? [] : [local.alarm_arns]
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
  description          = "API deploy and rollback from ${var.github_repository}, environment ${var.deploy_environment} only."
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

# ---------------------------------------------------------------------------
# Web deploy and rollback (web-publish, web-rollback): the release prefix, the ledger,
# and one distribution's origin path and invalidations.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "web_deploy" {
  count = local.create_web_role ? 1 : 0

  statement {
    # HeadBucket (the engine checks the bucket exists) and ListObjectsV2 of a release prefix.
    # HeadBucket carries no s3:prefix, so an s3:prefix condition would refuse it; listing
    # key names is read-only, writes stay limited by the statements below.
    sid       = "ListSiteBucket"
    effect    = "Allow"
    actions   = ["s3:ListBucket"]
    resources = [local.web_bucket_arn]
  }

  statement {
    sid       = "WriteReleasePrefix"
    effect    = "Allow"
    actions   = ["s3:DeleteObject", "s3:GetObject", "s3:PutObject"]
    resources = ["${local.web_bucket_arn}/${var.web_release_prefix}*"]
  }

  statement {
    # The ledger of kept releases, which one is live and what each replaced.
    sid       = "ReadWriteLedger"
    effect    = "Allow"
    actions   = ["s3:GetObject", "s3:PutObject"]
    resources = ["${local.web_bucket_arn}/${var.web_ledger_key}"]
  }

  statement {
    # A release goes live by pointing the origin path at its prefix, then the cache is invalidated.
    sid    = "SwitchDistribution"
    effect = "Allow"
    actions = [
      "cloudfront:CreateInvalidation",
      "cloudfront:GetDistributionConfig",
      "cloudfront:UpdateDistribution",
    ]
    resources = [local.web_distribution_arn]
  }
}

resource "aws_iam_role" "web_deploy" {
  count = local.create_web_role ? 1 : 0

  name                 = "${var.name_prefix}-github-web-deploy"
  description          = "Web (S3 + CloudFront) deploy and rollback from ${var.github_repository}, environment ${var.deploy_environment} only."
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

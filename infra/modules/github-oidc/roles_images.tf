# ---------------------------------------------------------------------------
# Image build: push to the named ECR repositories (Lambda and API), from jobs that
# name this account's environment. Deploy roles cannot push; this role cannot deploy.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "build" {
  count = local.create_build_role ? 1 : 0

  statement {
    # ecr:GetAuthorizationToken has no resource-level permissions: AWS only
    # accepts "*" here. It returns a registry login token (amazon-ecr-login);
    # what can be pushed is limited by the next statement.
    sid       = "EcrGetAuthorizationToken"
    effect    = "Allow"
    actions   = ["ecr:GetAuthorizationToken"]
    resources = ["*"]
  }

  statement {
    # docker push: layer checks and uploads, then the manifest; docker reads
    # existing manifests and layers of the same repository while pushing.
    sid    = "EcrPushNamedRepositories"
    effect = "Allow"
    actions = [
      "ecr:BatchCheckLayerAvailability",
      "ecr:BatchGetImage",
      "ecr:CompleteLayerUpload",
      "ecr:GetDownloadUrlForLayer",
      "ecr:InitiateLayerUpload",
      "ecr:PutImage",
      "ecr:UploadLayerPart",
    ]
    resources = local.all_ecr_repository_arns
  }
}

resource "aws_iam_role" "build" {
  count = local.create_build_role ? 1 : 0

  name                 = "${var.name_prefix}-github-build"
  description          = "Image builds (ECR push) from ${var.github_repository}, environment ${var.deploy_environment} only."
  assume_role_policy   = data.aws_iam_policy_document.trust_build.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "build" {
  count = local.create_build_role ? 1 : 0

  name   = "ecr-push"
  role   = aws_iam_role.build[0].id
  policy = data.aws_iam_policy_document.build[0].json
}

# ---------------------------------------------------------------------------
# Security scan: read-only ECR image metadata and scan findings, from main and the schedule.
# ---------------------------------------------------------------------------

data "aws_iam_policy_document" "security_scan" {
  count = local.create_security_scan_role ? 1 : 0

  statement {
    # aws ecr describe-images / describe-repositories / describe-image-scan-findings;
    # `aws ecr wait image-scan-complete` polls DescribeImageScanFindings.
    sid    = "ReadScanFindings"
    effect = "Allow"
    actions = [
      "ecr:DescribeImageScanFindings",
      "ecr:DescribeImages",
      "ecr:DescribeRepositories",
    ]
    resources = local.all_ecr_repository_arns
  }
}

resource "aws_iam_role" "security_scan" {
  count = local.create_security_scan_role ? 1 : 0

  name                 = "${var.name_prefix}-github-security-scan"
  description          = "Read-only ECR scan findings from ${var.github_repository}, main branch only."
  assume_role_policy   = data.aws_iam_policy_document.trust_security_scan.json
  max_session_duration = var.max_session_duration
  permissions_boundary = var.permissions_boundary_arn
  tags                 = var.tags
}

resource "aws_iam_role_policy" "security_scan" {
  count = local.create_security_scan_role ? 1 : 0

  name   = "ecr-scan-read"
  role   = aws_iam_role.security_scan[0].id
  policy = data.aws_iam_policy_document.security_scan[0].json
}

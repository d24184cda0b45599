# GitHub Actions OIDC provider and one role per job kind (bot/contract.py): build, lambda-deploy,
# api-deploy, web-deploy, infra-apply, infra-plan, security-scan.
#
# Every trust policy:
#   * trusts only the GitHub OIDC provider (a Federated principal, never "*");
#   * allows only sts:AssumeRoleWithWebIdentity;
#   * pins token.actions.githubusercontent.com:aud to sts.amazonaws.com (StringEquals);
#   * pins token.actions.githubusercontent.com:sub with StringEquals (never StringLike) to literal subjects:
#     repo:<owner>/<repo>:environment:<name> for the roles of jobs that name an environment,
#     repo:<owner>/<repo>:pull_request and :ref:refs/heads/main for the plan role,
#     repo:<owner>/<repo>:ref:refs/heads/main for the security-scan role.
# tests/infra checks these properties on the parsed HCL; tests/contract checks them against the workflows.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  oidc_provider_arn = var.create_oidc_provider ? aws_iam_openid_connect_provider.github[0].arn : var.oidc_provider_arn

  state_bucket_arn = "arn:${local.partition}:s3:::${var.state_bucket_name}"
  state_lock_table_arn = (
    var.state_lock_table_name == null ? null :
    "arn:${local.partition}:dynamodb:${local.region}:${local.account_id}:table/${var.state_lock_table_name}"
  )

  create_lambda_role = length(var.lambda_function_names) > 0
  create_web_role    = var.web_bucket_name != null
  create_api_role    = length(var.api_function_names) > 0
  # Image builds push to every repository of the account (Lambda functions and API).
  all_ecr_repository_names  = distinct(concat(var.ecr_repository_names, var.api_ecr_repository_names))
  create_build_role         = length(local.all_ecr_repository_names) > 0
  create_security_scan_role = var.create_security_scan_role && length(local.all_ecr_repository_names) > 0

  lambda_function_arns = flatten([
    for name in var.lambda_function_names : [
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}",
      # Qualified ARNs (versions and aliases) of the same function.
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}:*",
    ]
  ])
  api_function_arns = flatten([
    for name in var.api_function_names : [
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}",
      "arn:${local.partition}:lambda:${local.region}:${local.account_id}:function:${name}:*",
    ]
  ])
  ecr_repository_arns     = [for name in var.ecr_repository_names : "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${name}"]
  api_ecr_repository_arns = [for name in var.api_ecr_repository_names : "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${name}"]
  all_ecr_repository_arns = [for name in local.all_ecr_repository_names : "arn:${local.partition}:ecr:${local.region}:${local.account_id}:repository/${name}"]
  alarm_arns              = [for name in var.lambda_alarm_names : "arn:${local.partition}:cloudwatch:${local.region}:${local.account_id}:alarm:${name}"]

  web_bucket_arn       = var.web_bucket_name == null ? null : "arn:${local.partition}:s3:::${var.web_bucket_name}"
  web_distribution_arn = var.cloudfront_distribution_id == null ? null : "arn:${local.partition}:cloudfront::${local.account_id}:distribution/${var.cloudfront_distribution_id}"
}

resource "aws_iam_openid_connect_provider" "github" {
  count = var.create_oidc_provider ? 1 : 0

  url            = "https://token.actions.githubusercontent.com"
  client_id_list = ["sts.amazonaws.com"]
  # No thumbprint_list: IAM validates token.actions.githubusercontent.com against
  # its own library of trusted root CAs, so pinned thumbprints are ignored.
  tags = var.tags
}

check "oidc_provider_known" {
  assert {
    condition     = var.create_oidc_provider || var.oidc_provider_arn != null
    error_message = "Set oidc_provider_arn when create_oidc_provider is false."
  }
}

check "web_needs_distribution" {
  assert {
    condition     = var.web_bucket_name == null || var.cloudfront_distribution_id != null
    error_message = "cloudfront_distribution_id is required when web_bucket_name is set."
  }
}

check "plan_secret_arns_unused" {
  assert {
    condition     = length(var.plan_secret_arns) == 0
    error_message = "plan_secret_arns is ignored: the plan role reads no secret (nothing secret lives in the Terraform state any more). Remove it from the module call."
  }
}

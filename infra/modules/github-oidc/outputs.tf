output "oidc_provider_arn" {
  description = "ARN of the token.actions.githubusercontent.com OIDC provider the roles trust."
  value       = local.oidc_provider_arn
}

output "infra_plan_role_arn" {
  description = "Role for `terraform plan` (repository variable AWS_PLAN_ROLE_ARN_<ENV>, e.g. AWS_PLAN_ROLE_ARN_DEV)."
  value       = aws_iam_role.infra_plan.arn
}

output "infra_apply_role_arn" {
  description = "Role for `terraform apply` (environment variable AWS_APPLY_ROLE_ARN)."
  value       = aws_iam_role.infra_apply.arn
}

output "build_role_arn" {
  description = "Role for image builds pushing to ECR (environment variable AWS_BUILD_ROLE_ARN), or null when no ECR repository is named."
  value       = one(aws_iam_role.build[*].arn)
}

output "lambda_deploy_role_arn" {
  description = "Role for Lambda deploy and rollback (environment variable AWS_LAMBDA_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.lambda_deploy[*].arn)
}

output "api_deploy_role_arn" {
  description = "Role for API deploy and rollback (environment variable AWS_API_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.api_deploy[*].arn)
}

output "web_deploy_role_arn" {
  description = "Role for the S3 + CloudFront web deploy and rollback (environment variable AWS_WEB_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.web_deploy[*].arn)
}

output "security_scan_role_arn" {
  description = "Read-only role for the ECR scan job (repository variable AWS_SECURITY_ROLE_ARN, production's account), or null when not created."
  value       = one(aws_iam_role.security_scan[*].arn)
}

output "trusted_subjects" {
  description = "The OIDC `sub` patterns (IAM StringLike) each role accepts, for review (empty list: role not created). They assume the repository's subject template repo, context, job_workflow_ref (github-environments sets it)."
  value = {
    build         = local.create_build_role ? local.trusted_subjects.build : []
    lambda_deploy = local.create_lambda_role ? local.trusted_subjects.lambda_deploy : []
    api_deploy    = local.create_api_role ? local.trusted_subjects.api_deploy : []
    web_deploy    = local.create_web_role ? local.trusted_subjects.web_deploy : []
    infra_apply   = local.trusted_subjects.infra_apply
    infra_plan    = local.trusted_subjects.infra_plan
    security_scan = local.create_security_scan_role ? local.trusted_subjects.security_scan : []
  }
}

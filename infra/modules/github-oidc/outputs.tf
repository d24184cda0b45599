output "oidc_provider_arn" {
  description = "ARN of the token.actions.githubusercontent.com OIDC provider the roles trust."
  value       = local.oidc_provider_arn
}

output "infra_plan_role_arn" {
  description = "Role for `terraform plan` (GitHub variable AWS_PLAN_ROLE_ARN)."
  value       = aws_iam_role.infra_plan.arn
}

output "infra_apply_role_arn" {
  description = "Role for `terraform apply` (GitHub environment variable AWS_APPLY_ROLE_ARN)."
  value       = aws_iam_role.infra_apply.arn
}

output "lambda_deploy_role_arn" {
  description = "Role for Lambda build and deploy (environment variable AWS_LAMBDA_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.lambda_deploy[*].arn)
}

output "web_deploy_role_arn" {
  description = "Role for the S3 + CloudFront web deploy (environment variable AWS_WEB_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.web_deploy[*].arn)
}

output "api_deploy_role_arn" {
  description = "Role for the API deploy (environment variable AWS_API_DEPLOY_ROLE_ARN), or null when not created."
  value       = one(aws_iam_role.api_deploy[*].arn)
}

output "trusted_subjects" {
  description = "The exact OIDC `sub` values each role accepts, for review."
  value = {
    infra_plan    = ["repo:${var.github_repository}:ref:refs/heads/main", "repo:${var.github_repository}:environment:${var.plan_environment}"]
    infra_apply   = ["repo:${var.github_repository}:environment:${var.apply_environment}"]
    lambda_deploy = local.create_lambda_role ? ["repo:${var.github_repository}:environment:${var.deploy_environment}"] : []
    web_deploy    = local.create_web_role ? ["repo:${var.github_repository}:environment:${var.deploy_environment}"] : []
    api_deploy    = local.create_api_role ? ["repo:${var.github_repository}:environment:${var.deploy_environment}"] : []
  }
}

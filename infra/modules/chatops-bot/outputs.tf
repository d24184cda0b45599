output "role_arn" {
  description = "ARN of the bot's IAM role (ECS task role or Lambda execution role)."
  value       = aws_iam_role.bot.arn
}

output "role_name" {
  description = "Name of the bot's IAM role."
  value       = aws_iam_role.bot.name
}

output "secret_arns" {
  description = "Map of environment variable name to the ARN of the secret holding its value (use as ECS `secrets[].valueFrom`)."
  value       = { for k, s in aws_secretsmanager_secret.bot : k => s.arn }
}

output "events_api_key_secret_arn" {
  description = "ARN of the CHATOPS_EVENTS_API_KEY secret, to pass to the security-events module (api_key_secret_arn), or null when that secret is not managed here."
  value       = try(aws_secretsmanager_secret.bot["CHATOPS_EVENTS_API_KEY"].arn, null)
}

output "kms_key_arn" {
  description = "KMS key encrypting the secrets (grant kms:Encrypt on it to whoever puts secret values)."
  value       = local.kms_key_arn
}

output "secrets_read_policy_json" {
  description = "IAM policy (JSON) that reads the bot's secrets; attach it to an ECS task execution role when ECS injects the secrets as environment variables."
  value       = data.aws_iam_policy_document.secrets_read.json
}

output "rule_arns" {
  description = "Map of detection name to EventBridge rule ARN."
  value       = { for k, r in aws_cloudwatch_event_rule.detection : k => r.arn }
}

output "target_type" {
  description = "The delivery path in use: api_destination, sqs or sns."
  value       = var.target_type
}

output "api_destination_arn" {
  description = "ARN of the API destination posting to <bot>/aws/events, or null."
  value       = one(aws_cloudwatch_event_api_destination.bot[*].arn)
}

output "connection_secret_arn" {
  description = "ARN of the Secrets Manager secret EventBridge created for the connection's API key, or null."
  value       = one(aws_cloudwatch_event_connection.bot[*].secret_arn)
}

output "queue_arn" {
  description = "ARN of the queue the bot polls (sqs target), or null; pass to the chatops-bot module's events_queue_arn."
  value       = one(aws_sqs_queue.events[*].arn)
}

output "queue_url" {
  description = "URL of the queue the bot polls (sqs target), or null."
  value       = one(aws_sqs_queue.events[*].id)
}

output "topic_arn" {
  description = "ARN of the SNS topic (sns target), or null; the bot's allowed TopicArn."
  value       = one(aws_sns_topic.events[*].arn)
}

output "sns_subscription_pending_confirmation" {
  description = "sns target: true while the bot has not confirmed its HTTPS subscription (nothing is delivered until it has); null for the other targets."
  value       = one(aws_sns_topic_subscription.bot[*].pending_confirmation)
}

output "dead_letter_queue_arn" {
  description = "ARN of the delivery dead-letter queue (events EventBridge or SNS could not deliver); pass to the chatops-bot module's events_dead_letter_queue_arn."
  value       = aws_sqs_queue.dlq.arn
}

output "dead_letter_queue_url" {
  description = "URL of the delivery dead-letter queue; the bot drains it: its security.sqs.delivery_dlq_url."
  value       = aws_sqs_queue.dlq.id
}

output "dead_letter_queue_kms_key_arn" {
  description = "KMS key encrypting the delivery dead-letter queue (the topic's key for an sns target, else kms_key_arn), or null (SSE-SQS); pass to the chatops-bot module's events_dead_letter_queue_kms_key_arn."
  value       = local.dlq_kms_key
}

output "parked_queue_arn" {
  description = "ARN of the parked queue (what the bot could not read or record); pass to the chatops-bot module's events_parked_queue_arn."
  value       = aws_sqs_queue.parked.arn
}

output "parked_queue_url" {
  description = "URL of the parked queue, for people to inspect; the bot's security.sqs.dead_letter_queue_url."
  value       = aws_sqs_queue.parked.id
}

output "set_api_key_command" {
  description = "Run once after apply (and after rotating the bot's key): copies the key from api_key_secret_arn into the EventBridge connection, outside Terraform's state. Null unless target_type is api_destination."
  value       = local.use_api_destination ? "infra/scripts/set-events-api-key.sh ${aws_cloudwatch_event_connection.bot[0].name} ${var.api_key_secret_arn} ${local.region}" : null
}

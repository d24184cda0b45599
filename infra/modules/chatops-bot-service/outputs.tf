output "alb_arn" {
  description = "ARN of the load balancer (associate a WAF web ACL with it if you use one)."
  value       = aws_lb.bot.arn
}

output "alb_dns_name" {
  description = "DNS name of the load balancer; point domain_name at it (alias/CNAME) unless route53_zone_id is set."
  value       = aws_lb.bot.dns_name
}

output "alb_zone_id" {
  description = "Hosted zone id of the load balancer, for an alias record."
  value       = aws_lb.bot.zone_id
}

output "base_url" {
  description = "https://<domain_name>: the security-events module's bot_base_url."
  value       = "https://${var.domain_name}"
}

output "ingress_urls" {
  description = "Public URL of each routed path (paths not listed here answer 404 at the load balancer): where Slack, the GitHub App, EventBridge, SNS and Teams send."
  value       = { for name, route in local.ingress_routes : name => "https://${var.domain_name}${route.path}" }
}

output "cluster_arn" {
  description = "ARN of the ECS cluster."
  value       = aws_ecs_cluster.bot.arn
}

output "cluster_name" {
  description = "Name of the ECS cluster (aws ecs ... --cluster)."
  value       = aws_ecs_cluster.bot.name
}

output "service_name" {
  description = "Name of the ECS service (aws ecs update-service --service)."
  value       = aws_ecs_service.bot.name
}

output "task_definition_arn" {
  description = "ARN of the current task definition (for one-off tasks such as check-config)."
  value       = aws_ecs_task_definition.bot.arn
}

output "run_task_network_configuration" {
  description = "awsvpcConfiguration for `aws ecs run-task` (one-off tasks in the service's subnets and security group)."
  value = {
    subnets        = var.private_subnet_ids
    securityGroups = [aws_security_group.tasks.id]
    assignPublicIp = "DISABLED"
  }
}

output "execution_role_arn" {
  description = "ARN of the task execution role (image pull, secret injection, logs)."
  value       = aws_iam_role.execution.arn
}

output "log_group_name" {
  description = "CloudWatch log group of the bot."
  value       = aws_cloudwatch_log_group.bot.name
}

output "db_endpoint" {
  description = "Database endpoint host:port."
  value       = aws_db_instance.bot.endpoint
}

output "db_secret_arn" {
  description = "ARN of the RDS-managed secret holding the database user name and password (JSON keys username, password)."
  value       = local.db_master_secret
}

output "security_group_ids" {
  description = "Security groups of the load balancer, the tasks and the database."
  value = {
    alb   = aws_security_group.alb.id
    tasks = aws_security_group.tasks.id
    db    = aws_security_group.db.id
  }
}

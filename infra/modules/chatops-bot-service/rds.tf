# PostgreSQL 16 on RDS: private, encrypted with the module's key, TLS enforced, master password generated and
# kept by RDS in Secrets Manager (encrypted with the bot's secrets key; never in Terraform state).

resource "aws_db_subnet_group" "bot" {
  name        = "${local.base_name}-chatops"
  description = "chatops bot database (${var.environment})"
  subnet_ids  = var.private_subnet_ids
  tags        = var.tags
}

resource "aws_db_parameter_group" "bot" {
  name        = "${local.base_name}-chatops-pg16"
  family      = "postgres16"
  description = "chatops bot database: TLS only, connections logged"
  tags        = var.tags

  parameter {
    name  = "rds.force_ssl"
    value = "1"
  }

  parameter {
    name  = "log_connections"
    value = "1"
  }

  parameter {
    name  = "log_disconnections"
    value = "1"
  }
}

resource "aws_db_instance" "bot" {
  identifier     = local.db_identifier
  engine         = "postgres"
  engine_version = var.db_engine_version
  instance_class = var.db_instance_class
  db_name        = local.db_name
  port           = local.db_port

  username                      = local.db_username
  manage_master_user_password   = true
  master_user_secret_kms_key_id = var.secrets_kms_key_arn

  allocated_storage     = var.db_allocated_storage
  max_allocated_storage = var.db_max_allocated_storage
  storage_type          = "gp3"
  storage_encrypted     = true
  kms_key_id            = aws_kms_key.service.arn

  db_subnet_group_name   = aws_db_subnet_group.bot.name
  vpc_security_group_ids = [aws_security_group.db.id]
  parameter_group_name   = aws_db_parameter_group.bot.name
  publicly_accessible    = false
  multi_az               = var.db_multi_az

  iam_database_authentication_enabled = var.db_iam_authentication
  backup_retention_period             = var.db_backup_retention_days
  copy_tags_to_snapshot               = true
  delete_automated_backups            = false
  deletion_protection                 = var.db_deletion_protection
  skip_final_snapshot                 = false
  final_snapshot_identifier           = "${local.db_identifier}-final"
  auto_minor_version_upgrade          = true
  allow_major_version_upgrade         = false
  apply_immediately                   = false

  performance_insights_enabled          = true
  performance_insights_kms_key_id       = aws_kms_key.service.arn
  performance_insights_retention_period = 7
  monitoring_interval                   = var.db_monitoring_interval
  monitoring_role_arn                   = var.db_monitoring_interval > 0 ? aws_iam_role.rds_monitoring[0].arn : null
  enabled_cloudwatch_logs_exports       = local.db_log_exports

  tags = var.tags

  # The log groups exist (encrypted, with retention) before RDS would create them without either.
  depends_on = [aws_cloudwatch_log_group.db]

  lifecycle {
    precondition {
      condition     = var.db_max_allocated_storage >= var.db_allocated_storage
      error_message = "db_max_allocated_storage must be at least db_allocated_storage."
    }
  }
}

# RDS rotates the managed password (every 7 days unless told otherwise). ECS injects it at task start, so a
# task keeps the old password for new connections until it is replaced: after each rotation, the service needs a
# new deployment (docs/deploy-aws.md, "Database password rotation"). This sets how often that happens.
resource "aws_secretsmanager_secret_rotation" "db" {
  secret_id = local.db_master_secret
  # Secrets Manager rotates at once by default: on a fresh stack that changes the password while the first tasks
  # start with the one ECS injected. Wait for the first scheduled window instead.
  rotate_immediately = false

  rotation_rules {
    automatically_after_days = var.db_password_rotation_days
  }
}

# Cluster, task definition and service.
#
# The database connection: DATABASE_URL is the bare "postgresql://", and the bot's driver (asyncpg, like libpq)
# fills in host, port, database, user, password and TLS mode from the standard PG* variables. Host, port and
# name are plain environment; user and password are injected by ECS from the RDS-managed secret's JSON keys,
# so the password never appears in the task definition or in Terraform state, and a rotated password reaches
# new tasks on the next deployment.

locals {
  # Set by the module; environment_variables cannot override them (validated), and merge() lets these win anyway.
  fixed_environment = {
    PORT           = tostring(local.container_port)
    CHATOPS_CONFIG = var.config_path
    DATABASE_URL   = "postgresql://"
    PGHOST         = aws_db_instance.bot.address
    PGPORT         = tostring(local.db_port)
    PGDATABASE     = local.db_name
    PGSSLMODE      = var.db_sslmode
    # the RDS CA bundle the image carries (Dockerfile, certs/SOURCES.md): verify-full checks the server's
    # certificate chain against it and its name against PGHOST (asyncpg, like libpq)
    PGSSLROOTCERT = var.db_sslrootcert
  }
  environment = merge(var.environment_variables, local.fixed_environment)

  db_secrets = {
    PGUSER     = local.db_master_username
    PGPASSWORD = local.db_master_password
  }
  secrets = merge(local.bot_secret_arns, local.db_secrets)

  container = {
    name                   = local.container_name
    image                  = var.image
    essential              = true
    user                   = local.container_user
    readonlyRootFilesystem = true
    privileged             = false
    command                = ["serve"]
    portMappings           = [{ containerPort = local.container_port, protocol = "tcp" }]
    environment            = [for name in sort(keys(local.environment)) : { name = name, value = local.environment[name] }]
    secrets                = [for name in sort(keys(local.secrets)) : { name = name, valueFrom = local.secrets[name] }]
    # /tmp on task storage for libraries that want a scratch file; the root filesystem stays read-only.
    mountPoints = [{ sourceVolume = "tmp", containerPath = "/tmp", readOnly = false }]
    # ECS ignores the image's HEALTHCHECK; the same probe, without curl. Liveness only (/healthz);
    # readiness (/readyz) is the load balancer's.
    healthCheck = {
      command     = ["CMD", "python", "-c", "import sys,urllib.request as u; sys.exit(0 if u.urlopen('http://127.0.0.1:${local.container_port}/healthz', timeout=3).status == 200 else 1)"]
      interval    = 15
      timeout     = 5
      retries     = 3
      startPeriod = 15
    }
    # SIGTERM, then up to 30 s to hand over (the bot needs at most ~15 s) before SIGKILL.
    stopTimeout = 30
    linuxParameters = {
      capabilities = { drop = ["ALL"] }
    }
    logConfiguration = {
      logDriver = "awslogs"
      options = {
        awslogs-group         = aws_cloudwatch_log_group.bot.name
        awslogs-region        = local.region
        awslogs-stream-prefix = "bot"
      }
    }
  }
}

resource "aws_ecs_cluster" "bot" {
  name = "${local.base_name}-chatops"
  tags = var.tags

  setting {
    name  = "containerInsights"
    value = "enabled"
  }
}

resource "aws_ecs_task_definition" "bot" {
  family                   = "${local.base_name}-chatops-bot"
  requires_compatibilities = ["FARGATE"]
  network_mode             = "awsvpc"
  cpu                      = tostring(var.cpu)
  memory                   = tostring(var.memory)
  execution_role_arn       = aws_iam_role.execution.arn
  task_role_arn            = var.task_role_arn
  container_definitions    = jsonencode([local.container])
  tags                     = var.tags

  runtime_platform {
    operating_system_family = "LINUX"
    cpu_architecture        = var.cpu_architecture
  }

  volume {
    name = "tmp"
  }

  lifecycle {
    precondition {
      condition     = !var.socket_mode || contains(keys(var.secret_arns), "SLACK_APP_TOKEN")
      error_message = "socket_mode = true needs SLACK_APP_TOKEN in secret_arns (add it to the chatops-bot module's secrets)."
    }
    precondition {
      condition     = var.socket_mode || contains(keys(var.secret_arns), "SLACK_SIGNING_SECRET")
      error_message = "Slack over HTTP (socket_mode = false) needs SLACK_SIGNING_SECRET in secret_arns."
    }
  }
}

resource "aws_ecs_service" "bot" {
  name                               = "chatops-bot"
  cluster                            = aws_ecs_cluster.bot.id
  task_definition                    = aws_ecs_task_definition.bot.arn
  desired_count                      = var.desired_count
  launch_type                        = "FARGATE"
  platform_version                   = "LATEST"
  deployment_minimum_healthy_percent = 100
  deployment_maximum_percent         = 200
  health_check_grace_period_seconds  = 30
  enable_ecs_managed_tags            = true
  propagate_tags                     = "SERVICE"
  tags                               = var.tags

  deployment_circuit_breaker {
    enable   = true
    rollback = true
  }

  network_configuration {
    subnets          = var.private_subnet_ids
    security_groups  = [aws_security_group.tasks.id]
    assign_public_ip = false
  }

  load_balancer {
    target_group_arn = aws_lb_target_group.bot.arn
    container_name   = local.container_name
    container_port   = local.container_port
  }

  # The target group must belong to a listener before a service can use it.
  depends_on = [aws_lb_listener.https, aws_lb_listener_rule.ingress]
}

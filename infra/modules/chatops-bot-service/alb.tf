# The load balancer routes only the bot's ingress paths to it. Everything else (/metrics, /healthz, /readyz,
# any probe or scan) gets a 404 from the load balancer itself and never reaches a task.

locals {
  # Every path the bot may receive from outside, with the methods its platform uses. Fixed priorities, so that
  # turning one route off never renumbers the others. `enabled` is the only switch.
  ingress_paths = {
    slack_events          = { path = "/slack/events", methods = ["POST"], priority = 10, enabled = !var.socket_mode }
    github_webhook        = { path = "/github/webhook", methods = ["POST"], priority = 20, enabled = true }
    github_oauth_callback = { path = "/github/oauth/callback", methods = ["GET"], priority = 30, enabled = var.github_oauth_callback }
    aws_events            = { path = "/aws/events", methods = ["POST"], priority = 40, enabled = true }
    aws_sns               = { path = "/aws/sns", methods = ["POST"], priority = 50, enabled = true }
    teams_messages        = { path = "/teams/messages", methods = ["POST"], priority = 60, enabled = true }
  }
  ingress_routes = { for name, route in local.ingress_paths : name => route if route.enabled }
}

resource "aws_lb" "bot" {
  #checkov:skip=CKV2_AWS_28:A WAF in front of the bot is the operator's choice (associate one with the output alb_arn); every routed request is authenticated by the bot (Slack/GitHub signatures, EventBridge API key, SNS signature, Teams JWT).
  name                       = "${local.base_name}-chatops"
  load_balancer_type         = "application"
  internal                   = !var.internet_facing
  subnets                    = var.internet_facing ? var.public_subnet_ids : var.private_subnet_ids
  security_groups            = [aws_security_group.alb.id]
  drop_invalid_header_fields = true
  enable_deletion_protection = var.alb_deletion_protection
  desync_mitigation_mode     = "defensive"
  tags                       = var.tags

  dynamic "access_logs" {
    for_each = var.access_logs_bucket == null ? [] : [var.access_logs_bucket]
    content {
      bucket  = access_logs.value
      prefix  = "${local.base_name}-chatops"
      enabled = true
    }
  }

  lifecycle {
    precondition {
      condition     = !var.internet_facing || length(var.public_subnet_ids) >= 2
      error_message = "an internet-facing load balancer needs at least two public_subnet_ids."
    }
  }
}

resource "aws_lb_target_group" "bot" {
  #checkov:skip=CKV_AWS_378:TLS ends at the load balancer (HTTPS listener, TLS 1.3 policy); the hop to the tasks stays inside the VPC, admitted only from the load balancer's security group, and the bot serves plain HTTP on 3000.
  name                 = "${local.base_name}-chatops"
  port                 = local.container_port
  protocol             = "HTTP"
  target_type          = "ip"
  vpc_id               = var.vpc_id
  deregistration_delay = 20 # the bot finishes in-flight requests within 10 s of SIGTERM
  tags                 = var.tags

  health_check {
    path                = "/readyz"
    matcher             = "200"
    protocol            = "HTTP"
    port                = "traffic-port"
    interval            = 10
    timeout             = 5
    healthy_threshold   = 2
    unhealthy_threshold = 2
  }
}

resource "aws_lb_listener" "https" {
  load_balancer_arn = aws_lb.bot.arn
  port              = 443
  protocol          = "HTTPS"
  ssl_policy        = var.ssl_policy
  certificate_arn   = var.certificate_arn
  tags              = var.tags

  default_action {
    type = "fixed-response"

    fixed_response {
      content_type = "text/plain"
      message_body = "not found"
      status_code  = "404"
    }
  }
}

resource "aws_lb_listener" "http" {
  load_balancer_arn = aws_lb.bot.arn
  port              = 80
  protocol          = "HTTP"
  tags              = var.tags

  default_action {
    type = "redirect"

    redirect {
      port        = "443"
      protocol    = "HTTPS"
      status_code = "HTTP_301"
    }
  }
}

resource "aws_lb_listener_rule" "ingress" {
  for_each = local.ingress_routes

  listener_arn = aws_lb_listener.https.arn
  priority     = each.value.priority
  tags         = var.tags

  action {
    type             = "forward"
    target_group_arn = aws_lb_target_group.bot.arn
  }

  condition {
    path_pattern {
      values = [each.value.path]
    }
  }

  condition {
    http_request_method {
      values = each.value.methods
    }
  }
}

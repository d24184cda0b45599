# Three security groups, each admitting only the hop before it:
#   ingress_cidrs --443/80--> load balancer --3000--> tasks --5432--> database
# Tasks also reach Slack, GitHub and the AWS APIs on 443 (through NAT or VPC endpoints).

resource "aws_security_group" "alb" {
  name        = "${local.base_name}-chatops-alb"
  description = "chatops bot load balancer: HTTPS (and HTTP, redirected) from ingress_cidrs"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.base_name}-chatops-alb" })
}

resource "aws_security_group" "tasks" {
  name        = "${local.base_name}-chatops-tasks"
  description = "chatops bot tasks: port 3000 from the load balancer only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.base_name}-chatops-tasks" })
}

resource "aws_security_group" "db" {
  name        = "${local.base_name}-chatops-db"
  description = "chatops bot database: PostgreSQL from the bot tasks only"
  vpc_id      = var.vpc_id
  tags        = merge(var.tags, { Name = "${local.base_name}-chatops-db" })
}

# --- load balancer ---

resource "aws_vpc_security_group_ingress_rule" "alb_https" {
  for_each = toset(var.ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTPS from ${each.value}"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_ingress_rule" "alb_http" {
  #checkov:skip=CKV_AWS_260:Port 80 only answers a 301 redirect to HTTPS (listener http_redirect); nothing reaches the bot over HTTP.
  for_each = toset(var.ingress_cidrs)

  security_group_id = aws_security_group.alb.id
  description       = "HTTP from ${each.value} (redirected to HTTPS)"
  ip_protocol       = "tcp"
  from_port         = 80
  to_port           = 80
  cidr_ipv4         = each.value
}

resource "aws_vpc_security_group_egress_rule" "alb_to_tasks" {
  security_group_id            = aws_security_group.alb.id
  description                  = "To the bot tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.tasks.id
}

# --- tasks ---

resource "aws_vpc_security_group_ingress_rule" "tasks_from_alb" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "From the load balancer"
  ip_protocol                  = "tcp"
  from_port                    = local.container_port
  to_port                      = local.container_port
  referenced_security_group_id = aws_security_group.alb.id
}

resource "aws_vpc_security_group_egress_rule" "tasks_https" {
  security_group_id = aws_security_group.tasks.id
  description       = "HTTPS to Slack, GitHub, Teams and the AWS APIs"
  ip_protocol       = "tcp"
  from_port         = 443
  to_port           = 443
  cidr_ipv4         = "0.0.0.0/0"
}

resource "aws_vpc_security_group_egress_rule" "tasks_to_db" {
  security_group_id            = aws_security_group.tasks.id
  description                  = "PostgreSQL"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.db.id
}

# --- database (no egress rule: Terraform removes the default allow-all) ---

resource "aws_vpc_security_group_ingress_rule" "db_from_tasks" {
  security_group_id            = aws_security_group.db.id
  description                  = "PostgreSQL from the bot tasks"
  ip_protocol                  = "tcp"
  from_port                    = local.db_port
  to_port                      = local.db_port
  referenced_security_group_id = aws_security_group.tasks.id
}

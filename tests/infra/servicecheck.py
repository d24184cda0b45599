"""Structural checks on infra/modules/chatops-bot-service, on the code as parsed by python-hcl2.

Like tfcheck, each ``check_*`` returns human-readable violations (empty = pass), so the same function
serves the real module and the mutation tests that loosen a copy of it.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from tests.infra import tfcheck

SERVICE = tfcheck.MODULES / "chatops-bot-service"

# The only paths the load balancer may forward, and the methods their platforms use.
INGRESS = {
    "/slack/events": ["POST"],
    "/github/webhook": ["POST"],
    "/github/oauth/callback": ["GET"],
    "/aws/events": ["POST"],
    "/aws/sns": ["POST"],
    "/teams/messages": ["POST"],
}
NEVER_PUBLIC = ("/metrics", "/healthz", "/readyz", "/")

Files = dict[str, dict[str, Any]]


def resources(files: Files) -> dict[tuple[str, str], dict[str, Any]]:
    return {(t, n): b for t, n, b in tfcheck.typed(files, "resource")}


def locals_of(files: Files) -> dict[str, Any]:
    merged: dict[str, Any] = {}
    for parsed in files.values():
        for block in parsed.get("locals", []):
            merged.update(block)
    return merged


def resolve(value: Any, local: dict[str, Any]) -> Any:
    """Follow a bare ``${local.name}`` reference (repeatedly); anything else is returned as is."""
    seen = 0
    while isinstance(value, str) and (m := re.fullmatch(r"\$\{local\.([a-z_]+)\}", value)) and seen < 10:
        value = local.get(m.group(1), value)
        seen += 1
    return value


def _variable_default(files: Files, name: str) -> Any:
    return dict(tfcheck.labelled(files, "variable")).get(name, {}).get("default")


def check_listeners(files: Files) -> list[str]:
    errors: list[str] = []
    res = resources(files)
    https = res.get(("aws_lb_listener", "https"), {})
    default = (https.get("default_action") or [{}])[0]
    fixed = (default.get("fixed_response") or [{}])[0]
    if https.get("protocol") != "HTTPS" or https.get("port") != 443:
        errors.append("the bot's listener must be HTTPS on 443")
    if default.get("type") != "fixed-response" or str(fixed.get("status_code")) != "404":
        errors.append(f"the HTTPS listener's default action must be a fixed 404, got {default!r}")
    if https.get("certificate_arn") != "${var.certificate_arn}":
        errors.append("the HTTPS listener must use var.certificate_arn")
    if not str(_variable_default(files, "ssl_policy") or "").startswith("ELBSecurityPolicy-TLS13-"):
        errors.append("the default ssl_policy must be a TLS 1.3 policy")
    http = res.get(("aws_lb_listener", "http"), {})
    http_default = (http.get("default_action") or [{}])[0]
    redirect = (http_default.get("redirect") or [{}])[0]
    if http_default.get("type") != "redirect" or redirect.get("protocol") != "HTTPS" or (
        redirect.get("status_code") != "HTTP_301"
    ):
        errors.append("the HTTP listener must only redirect to HTTPS")
    if res.get(("aws_lb", "bot"), {}).get("drop_invalid_header_fields") is not True:
        errors.append("the load balancer must drop invalid header fields")
    listeners = [n for t, n in res if t == "aws_lb_listener"]
    if sorted(listeners) != ["http", "https"]:
        errors.append(f"unexpected listeners {listeners}")
    errors += _check_rules(files)
    return errors


def _check_rules(files: Files) -> list[str]:
    errors: list[str] = []
    res = resources(files)
    rules = {n: b for (t, n), b in res.items() if t == "aws_lb_listener_rule"}
    if list(rules) != ["ingress"]:
        return [f"expected one listener rule resource (ingress) driven by local.ingress_routes, got {list(rules)}"]
    rule = rules["ingress"]
    if rule.get("for_each") != "${local.ingress_routes}":
        errors.append("listener rules must be created from local.ingress_routes")
    conditions = rule.get("condition", [])
    paths = [c["path_pattern"][0].get("values") for c in conditions if "path_pattern" in c]
    methods = [c["http_request_method"][0].get("values") for c in conditions if "http_request_method" in c]
    if paths != [["${each.value.path}"]] or methods != ["${each.value.methods}"]:
        errors.append("each rule must match exactly its route's path and methods")
    for action in rule.get("action", []):
        if action.get("type") != "forward" or action.get("target_group_arn") != "${aws_lb_target_group.bot.arn}":
            errors.append(f"a listener rule may only forward to the bot's target group, got {action!r}")
    local = locals_of(files)
    if not re.fullmatch(r"\$\{\{for (\w+), (\w+) in local\.ingress_paths : \1 => \2 if \2\.enabled\}\}",
                        str(local.get("ingress_routes"))):
        errors.append("local.ingress_routes must be local.ingress_paths filtered on `enabled`")
    routes = local.get("ingress_paths", {})
    declared = {r.get("path"): r.get("methods") for r in routes.values()}
    if declared != INGRESS:
        errors.append(f"local.ingress_paths must route exactly {INGRESS}, got {declared}")
    for name, route in routes.items():
        if not re.fullmatch(r"(/[a-z0-9_-]+)+", str(route.get("path"))):
            errors.append(f"route {name}: path {route.get('path')!r} must be a literal path (no wildcards)")
    enabled = {r.get("path"): r.get("enabled") for r in routes.values()}
    if enabled.get("/slack/events") != "${!var.socket_mode}":
        errors.append("/slack/events must be routed exactly when socket_mode is false")
    if enabled.get("/github/oauth/callback") != "${var.github_oauth_callback}":
        errors.append("/github/oauth/callback must be routed only when github_oauth_callback is true")
    return errors


def check_security_groups(files: Files) -> list[str]:
    errors: list[str] = []
    res = resources(files)
    for (t, n), body in res.items():
        if t == "aws_security_group" and ("ingress" in body or "egress" in body):
            errors.append(f"aws_security_group.{n}: inline rules are not allowed (use the rule resources)")
    expected_sources = {
        "${aws_security_group.tasks.id}": ("${aws_security_group.alb.id}", "${local.container_port}"),
        "${aws_security_group.db.id}": ("${aws_security_group.tasks.id}", "${local.db_port}"),
    }
    for (t, n), body in res.items():
        if t != "aws_vpc_security_group_ingress_rule":
            continue
        group = body.get("security_group_id")
        if group in expected_sources:
            source, port = expected_sources[group]
            if body.get("referenced_security_group_id") != source or any(
                k in body for k in ("cidr_ipv4", "cidr_ipv6", "prefix_list_id")
            ):
                errors.append(f"ingress rule {n}: {group} may only admit {source}")
            if body.get("from_port") != port or body.get("to_port") != port:
                errors.append(f"ingress rule {n}: {group} may only open {port}")
        elif group == "${aws_security_group.alb.id}":
            if body.get("cidr_ipv4") != "${each.value}" or body.get("for_each") != "${toset(var.ingress_cidrs)}":
                errors.append(f"ingress rule {n}: the load balancer admits only var.ingress_cidrs")
            if body.get("from_port") not in (80, 443) or body.get("to_port") != body.get("from_port"):
                errors.append(f"ingress rule {n}: the load balancer opens only 80 and 443")
        else:
            errors.append(f"ingress rule {n} on unexpected group {group}")
    for (t, n), body in res.items():
        if t == "aws_vpc_security_group_egress_rule" and body.get("security_group_id") == "${aws_security_group.db.id}":
            errors.append(f"egress rule {n}: the database needs no egress")
    return errors


def check_database(files: Files) -> list[str]:
    errors: list[str] = []
    db = resources(files).get(("aws_db_instance", "bot"), {})
    expected = {
        "engine": "postgres",
        "publicly_accessible": False,
        "storage_encrypted": True,
        "manage_master_user_password": True,
        "skip_final_snapshot": False,
        "performance_insights_enabled": True,
        "deletion_protection": "${var.db_deletion_protection}",
        "multi_az": "${var.db_multi_az}",
    }
    for key, value in expected.items():
        if db.get(key) != value:
            errors.append(f"aws_db_instance.bot.{key} must be {value!r}, got {db.get(key)!r}")
    for key in ("kms_key_id", "performance_insights_kms_key_id", "master_user_secret_kms_key_id"):
        if not db.get(key):
            errors.append(f"aws_db_instance.bot.{key} must name a customer-managed key")
    for key in ("password", "password_wo"):
        if key in db:
            errors.append(f"aws_db_instance.bot.{key}: the password must be managed by RDS, not Terraform")
    if _variable_default(files, "db_deletion_protection") is not True:
        errors.append("db_deletion_protection must default to true")
    if not str(_variable_default(files, "db_engine_version")).startswith("16"):
        errors.append("the database must be PostgreSQL 16")
    return errors


def check_service(files: Files) -> list[str]:
    errors: list[str] = []
    res = resources(files)
    svc = res.get(("aws_ecs_service", "bot"), {})
    if svc.get("deployment_minimum_healthy_percent") != 100 or svc.get("deployment_maximum_percent") != 200:
        errors.append("rolling deployments must keep 100 % healthy (min 100, max 200)")
    if svc.get("deployment_circuit_breaker") != [{"enable": True, "rollback": True}]:
        errors.append("the deployment circuit breaker must be on, with rollback")
    if svc.get("desired_count") != "${var.desired_count}":
        errors.append("desired_count must come from var.desired_count")
    net = (svc.get("network_configuration") or [{}])[0]
    if net.get("assign_public_ip") is not False or net.get("subnets") != "${var.private_subnet_ids}":
        errors.append("tasks must run in the private subnets without public IPs")
    if net.get("security_groups") != ["${aws_security_group.tasks.id}"]:
        errors.append("tasks must use only the tasks security group")
    if (_variable_default(files, "desired_count") or 0) < 2:
        errors.append("desired_count must default to at least 2")
    cluster = res.get(("aws_ecs_cluster", "bot"), {})
    if {"name": "containerInsights", "value": "enabled"} not in cluster.get("setting", []):
        errors.append("the cluster must have container insights on")
    health = (res.get(("aws_lb_target_group", "bot"), {}).get("health_check") or [{}])[0]
    if health.get("path") != "/readyz" or str(health.get("matcher")) != "200":
        errors.append(f"the target group must check /readyz for 200, got {health!r}")
    return errors


def check_task(files: Files) -> list[str]:
    errors: list[str] = []
    local = locals_of(files)
    task = resources(files).get(("aws_ecs_task_definition", "bot"), {})
    if task.get("container_definitions") != "${jsonencode([local.container])}":
        errors.append("the task's only container must be local.container")
    if task.get("task_role_arn") != "${var.task_role_arn}":
        errors.append("the task must run as the bot's existing role (var.task_role_arn)")
    container = local.get("container", {})
    if container.get("readonlyRootFilesystem") is not True or container.get("privileged") is not False:
        errors.append("the container must have a read-only root filesystem and no privileges")
    user = str(resolve(container.get("user"), local))
    if not re.fullmatch(r"[1-9][0-9]*:[1-9][0-9]*", user):
        errors.append(f"the container must run as a fixed non-root uid:gid, got {user!r}")
    ports = [resolve(p.get("containerPort"), local) for p in container.get("portMappings", [])]
    if ports != [3000]:
        errors.append(f"the container must expose only 3000, got {ports}")
    env = local.get("fixed_environment", {})
    if env.get("DATABASE_URL") != "postgresql://" or not {"PGHOST", "PGPORT", "PGDATABASE"} <= set(env):
        errors.append("DATABASE_URL must be the bare postgresql:// completed by PGHOST/PGPORT/PGDATABASE")
    db_secrets = local.get("db_secrets", {})
    if resolve(db_secrets.get("PGPASSWORD"), local) != "${local.db_master_secret}:password::" or (
        local.get("db_master_secret") != "${aws_db_instance.bot.master_user_secret[0].secret_arn}"
    ):
        errors.append("PGPASSWORD must be injected from the RDS-managed secret's password key")
    if 'if name != "DATABASE_URL"' not in str(local.get("bot_secret_arns")):
        errors.append("a DATABASE_URL secret must not be injected (it would override the RDS connection)")
    log = resources(files).get(("aws_cloudwatch_log_group", "bot"), {})
    if log.get("retention_in_days") != "${var.log_retention_days}" or not log.get("kms_key_id"):
        errors.append("the log group must have a retention and a KMS key")
    return errors


def check_service_module(directory: Path = SERVICE) -> list[str]:
    files = tfcheck.load_dir(directory)
    return (
        check_listeners(files)
        + check_security_groups(files)
        + check_database(files)
        + check_service(files)
        + check_task(files)
    )

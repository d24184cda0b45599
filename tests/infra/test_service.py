"""infra/modules/chatops-bot-service: the bot's compute (ECS on Fargate, ALB, RDS PostgreSQL).

Three kinds of evidence:
- structural checks on the parsed HCL (servicecheck), each proven able to fail by a mutation of a copy;
- the real `terraform` evaluating the module's own variable validations and routing expression
  (a provider-free root holding variables.tf and the routing locals, so no provider download is needed);
- the database connection the task definition sets up, tried against the real PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import pytest

from tests.conftest import PG_DSN, require_postgres
from tests.infra import servicecheck, tfcheck
from tests.infra.servicecheck import INGRESS, NEVER_PUBLIC, SERVICE
from tests.infra.tfcheck import ROOT

# ---------------------------------------------------------------------------
# Structure (python-hcl2), and mutations proving each check can fail
# ---------------------------------------------------------------------------


def test_service_module_passes_every_check() -> None:
    assert servicecheck.check_service_module() == []


def _replace(old: str, new: str) -> Callable[[str], str]:
    def mutate(text: str) -> str:
        assert old in text, f"mutation anchor not found: {old!r}"
        return text.replace(old, new, 1)

    return mutate


MUTATIONS: list[tuple[str, str, Callable[[str], str], str]] = [
    ("default-forwards", "alb.tf", _replace('status_code  = "404"', 'status_code  = "200"'), "fixed 404"),
    ("metrics-routed", "alb.tf", _replace('path = "/aws/sns"', 'path = "/metrics"'), "must route exactly"),
    ("wildcard-path", "alb.tf", _replace('path = "/teams/messages"', 'path = "/teams/*"'), "must route exactly"),
    ("slack-in-socket-mode", "alb.tf", _replace("enabled = !var.socket_mode", "enabled = true"), "socket_mode"),
    ("routes-unfiltered", "alb.tf", _replace(" if route.enabled", ""), "filtered on `enabled`"),
    ("keeps-bad-headers", "alb.tf", _replace("drop_invalid_header_fields = true", ""), "invalid header"),
    ("health-on-healthz", "alb.tf", _replace('path                = "/readyz"', 'path = "/healthz"'), "/readyz"),
    ("http-serves", "alb.tf", _replace('type = "redirect"', 'type = "forward"'), "redirect"),
    (
        "tasks-open-to-vpc",
        "security_groups.tf",
        _replace(
            "referenced_security_group_id = aws_security_group.alb.id",
            'cidr_ipv4                    = "10.0.0.0/8"',
        ),
        "may only admit",
    ),
    (
        "db-open-to-alb",
        "security_groups.tf",
        _replace(
            'description                  = "PostgreSQL from the bot tasks"\n  ip_protocol                  = "tcp"\n'
            "  from_port                    = local.db_port\n  to_port                      = local.db_port\n"
            "  referenced_security_group_id = aws_security_group.tasks.id",
            'description                  = "PostgreSQL from the bot tasks"\n  ip_protocol                  = "tcp"\n'
            "  from_port                    = local.db_port\n  to_port                      = local.db_port\n"
            "  referenced_security_group_id = aws_security_group.alb.id",
        ),
        "may only admit",
    ),
    ("db-public", "rds.tf", _replace("publicly_accessible    = false", "publicly_accessible    = true"), "public"),
    ("db-unencrypted", "rds.tf", _replace("storage_encrypted     = true", "storage_encrypted = false"), "encrypt"),
    (
        "db-terraform-password",
        "rds.tf",
        _replace("manage_master_user_password   = true", 'password = "hunter2hunter2"'),
        "manage_master_user_password",
    ),
    (
        "db-unprotected-by-default",
        "variables.tf",
        _replace(
            'description = "Protect the database from deletion. Keep true in production; turn off only to destroy a '
            'dev stack."\n  type        = bool\n  default     = true',
            'description = "Protect the database from deletion."\n  type        = bool\n  default     = false',
        ),
        "default to true",
    ),
    ("min-healthy-50", "ecs.tf", _replace("minimum_healthy_percent = 100", "minimum_healthy_percent = 50"), "100 %"),
    ("no-rollback", "ecs.tf", _replace("rollback = true", "rollback = false"), "circuit breaker"),
    ("writable-root", "ecs.tf", _replace("readonlyRootFilesystem = true", "readonlyRootFilesystem = 0"), "read-only"),
    ("runs-as-root", "main.tf", _replace('container_user = "10001:10001"', 'container_user = "0:0"'), "non-root"),
    ("database-url-secret", "main.tf", _replace(' if name != "DATABASE_URL"', ""), "DATABASE_URL"),
    ("no-insights", "ecs.tf", _replace('value = "enabled"', 'value = "disabled"'), "container insights"),
]


@pytest.mark.parametrize(("file", "mutate", "expected"), [m[1:] for m in MUTATIONS], ids=[m[0] for m in MUTATIONS])
def test_each_loosening_is_caught(tmp_path: Path, file: str, mutate: Callable[[str], str], expected: str) -> None:
    copy = tmp_path / SERVICE.name
    shutil.copytree(SERVICE, copy)
    target = copy / file
    target.write_text(mutate(target.read_text()))
    errors = servicecheck.check_service_module(copy)
    assert any(expected in e for e in errors), errors


def test_routed_paths_are_routes_the_bot_serves() -> None:
    """Every path the load balancer can forward is registered by the bot with that method (one name, one source);
    /github/oauth/callback, which the bot does not serve, is off unless github_oauth_callback is set."""
    source = "\n".join(p.read_text() for d in ("bot", "chatops", "handlers") for p in (ROOT / d).rglob("*.py"))
    constants = dict(re.findall(r'^(\w+)\s*=\s*"(/[^"]*)"', source, re.M))
    served = {
        (method.upper(), constants.get(arg, arg.strip('"')))
        for method, arg in re.findall(r"\.add_(get|post)\(\s*(\"[^\"]+\"|\w+)", source)
    }
    for path, methods in INGRESS.items():
        if path == "/github/oauth/callback" and ("GET", path) not in served:
            files = tfcheck.load_dir(SERVICE)
            assert dict(tfcheck.labelled(files, "variable"))["github_oauth_callback"]["default"] is False
            continue
        for method in methods:
            assert (method, path) in served, f"the load balancer forwards {method} {path}, which the bot does not serve"
    assert ("GET", "/metrics") in served  # the scan does see the routes that must stay private


# ---------------------------------------------------------------------------
# The real terraform, on a provider-free root (variables.tf + the routing locals)
# ---------------------------------------------------------------------------

VALID = {
    "environment": "production",
    "vpc_id": "vpc-0123456789abcdef0",
    "private_subnet_ids": '["subnet-0123456789abcdef0","subnet-0123456789abcdef1"]',
    "certificate_arn": "arn:aws:acm:us-east-1:123456789012:certificate/0123abcd-0123-0123-0123-0123456789ab",
    "domain_name": "chatops.example.com",
    "image": "123456789012.dkr.ecr.us-east-1.amazonaws.com/chatops-bot@sha256:" + "a" * 64,
    "task_role_arn": "arn:aws:iam::123456789012:role/chatops-production-chatops-bot",
    "secret_arns": '{SLACK_BOT_TOKEN="arn:aws:secretsmanager:us-east-1:123456789012:secret:chatops/prod/x-AbCdEf"}',
    "secrets_kms_key_arn": "arn:aws:kms:us-east-1:123456789012:key/0123abcd-0123-0123-0123-0123456789ab",
}


def _routing_locals() -> str:
    text = (SERVICE / "alb.tf").read_text()
    match = re.search(r"^locals \{\n.*?^\}\n", text, re.M | re.S)
    assert match, "alb.tf has no top-level locals block"
    return match.group(0)


@pytest.fixture(scope="module")
def tf_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, str]]:
    terraform = shutil.which("terraform")
    if terraform is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the terraform binary is not on PATH")
        pytest.skip("NOTICE: terraform not on PATH: the module's validations and routing were NOT evaluated")
    root = tmp_path_factory.mktemp("service-root")
    shutil.copy(SERVICE / "variables.tf", root / "variables.tf")
    (root / "routing.tf").write_text(_routing_locals())
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_DATA_DIR": str(root / ".terraform")}
    subprocess.run([terraform, "init", "-input=false", "-backend=false"], cwd=root, env=env,
                   capture_output=True, text=True, timeout=120, check=True)
    return terraform, root, env


def _tf(tf_root: tuple[str, Path, dict[str, str]], args: list[str], overrides: dict[str, str],
        stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    terraform, root, env = tf_root
    values = {**VALID, **overrides}
    var_args = [a for k, v in values.items() for a in ("-var", f"{k}={v}")]
    return subprocess.run([terraform, *args, "-input=false", *var_args], cwd=root, env=env, input=stdin,
                          capture_output=True, text=True, timeout=120, check=False)


def _routes(tf_root: tuple[str, Path, dict[str, str]], **overrides: str) -> dict[str, list[str]]:
    expr = "jsonencode({ for name, route in local.ingress_routes : route.path => route.methods })\n"
    result = _tf(tf_root, ["console"], overrides, stdin=expr)
    assert result.returncode == 0, result.stderr
    return dict(json.loads(json.loads(result.stdout.strip())))


def test_http_mode_routes_exactly_the_bot_paths(tf_root: tuple[str, Path, dict[str, str]]) -> None:
    routes = _routes(tf_root)
    assert routes == {p: m for p, m in INGRESS.items() if p != "/github/oauth/callback"}
    assert not set(routes) & set(NEVER_PUBLIC)


def test_socket_mode_removes_only_slack_events(tf_root: tuple[str, Path, dict[str, str]]) -> None:
    routes = _routes(tf_root, socket_mode="true")
    assert "/slack/events" not in routes
    assert set(routes) == set(INGRESS) - {"/slack/events", "/github/oauth/callback"}
    assert _routes(tf_root, socket_mode="true", github_oauth_callback="true")["/github/oauth/callback"] == ["GET"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("desired_count", "1", "desired_count must be a whole number between 2 and 20"),
        ("desired_count", "0", "desired_count must be a whole number between 2 and 20"),
        ("image", "123456789012.dkr.ecr.us-east-1.amazonaws.com/chatops-bot:1.4.0", "image must be pinned by digest"),
        ("image", "chatops-bot@sha256:abc", "image must be pinned by digest"),
        ("private_subnet_ids", '["subnet-0123456789abcdef0"]', "private_subnet_ids must list at least two"),
        ("ingress_cidrs", '["0.0.0.0/99"]', "ingress_cidrs must be a non-empty list of CIDR blocks"),
        ("ssl_policy", "ELBSecurityPolicy-2016-08", "ssl_policy must be one of the TLS 1.3 policies"),
        ("environment_variables", '{DATABASE_URL="sqlite:///x"}', "must not set PORT, HOST, CHATOPS_CONFIG"),
        ("environment_variables", '{PGPASSWORD="x"}', "must not set PORT, HOST, CHATOPS_CONFIG"),
        ("db_engine_version", "15.4", "db_engine_version must be PostgreSQL 16"),
        ("name_prefix", "abcdefghijklmn", "name_prefix must be 1-13 lower-case letters"),
        # issue 23 item 11: RDS refuses an identifier with a trailing or doubled '-' (<prefix>-<env>-chatops)
        ("name_prefix", "chatops-", "ending with a letter or digit, without '--'"),
        ("name_prefix", "chat--ops", "ending with a letter or digit, without '--'"),
        ("create_dns_record", "true", "create_dns_record = true needs route53_zone_id"),
    ],
)
def test_variable_validation_refuses(tf_root: tuple[str, Path, dict[str, str]], variable: str, value: str,
                                     message: str) -> None:
    result = _tf(tf_root, ["plan", "-lock=false", "-no-color"], {variable: value})
    assert result.returncode != 0
    assert message in " ".join(result.stderr.split()), result.stderr


def test_valid_inputs_plan_cleanly(tf_root: tuple[str, Path, dict[str, str]]) -> None:
    result = _tf(tf_root, ["plan", "-lock=false", "-no-color"], {"desired_count": "2"})
    assert result.returncode == 0, result.stderr


# ---------------------------------------------------------------------------
# The database connection the task definition builds, on the real PostgreSQL
# ---------------------------------------------------------------------------


@pytest.mark.postgres
def test_bare_database_url_plus_pg_variables_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    """The task sets DATABASE_URL=postgresql:// and PG* (password from the RDS secret); the bot's driver joins them."""
    require_postgres()
    local = servicecheck.locals_of(tfcheck.load_dir(SERVICE))
    env = local["fixed_environment"]
    target = urlsplit(PG_DSN)
    monkeypatch.setenv("PGHOST", target.hostname or "127.0.0.1")
    monkeypatch.setenv("PGPORT", str(target.port or 5432))
    monkeypatch.setenv("PGDATABASE", target.path.lstrip("/"))
    monkeypatch.setenv("PGUSER", target.username or "postgres")
    monkeypatch.setenv("PGPASSWORD", target.password or "p@ss:/w?rd#%")  # URL-hostile characters need no quoting
    monkeypatch.setenv("PGSSLMODE", "prefer")  # the loopback server has no TLS; the task sets var.db_sslmode

    async def who() -> tuple[str, str]:
        conn = await asyncpg.connect(env["DATABASE_URL"], timeout=5)
        try:
            row = await conn.fetchrow("SELECT current_user AS u, current_database() AS d")
        finally:
            await conn.close()
        assert row is not None
        return row["u"], row["d"]

    assert asyncio.run(who()) == (os.environ["PGUSER"], os.environ["PGDATABASE"])


def test_container_user_matches_the_image() -> None:
    dockerfile = ROOT / "Dockerfile"
    if not dockerfile.exists():
        pytest.skip("NOTICE: no Dockerfile in this tree; the uid match with the image was NOT checked")
    uid = re.search(r"^ARG UID=(\d+)", dockerfile.read_text(), re.M)
    assert uid, "Dockerfile declares no ARG UID"
    local = servicecheck.locals_of(tfcheck.load_dir(SERVICE))
    assert local["container_user"] == f"{uid.group(1)}:{uid.group(1)}"
    config = re.search(r"CHATOPS_CONFIG=(\S+)", dockerfile.read_text())
    variables = dict(tfcheck.labelled(tfcheck.load_dir(SERVICE), "variable"))
    assert config and variables["config_path"]["default"] == config.group(1)

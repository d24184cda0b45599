"""Issue 23 item 11: the module edges found by applying the AWS modules (against moto), each pinned by a test.

Structure is read with python-hcl2 (tfcheck); variable validations are evaluated by the real `terraform` on a
provider-free root holding the module's variables.tf (and the files it reads), as tests/infra/test_service.py does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest

from tests.infra import tfcheck
from tests.infra.tfcheck import MODULE_NAMES, MODULES

SECURITY_EVENTS = MODULES / "security-events"
EVENTBRIDGE_RULE_NAME_MAX = 64  # EventBridge PutRule: Name, 1-64 characters, [\.\-_A-Za-z0-9]+


def _rule_ids() -> list[str]:
    return sorted(json.loads((SECURITY_EVENTS / "patterns.json").read_text()))


def _variables(module: str) -> dict[str, dict[str, object]]:
    return dict(tfcheck.labelled(tfcheck.load_dir(MODULES / module), "variable"))


def _resources(module: str) -> list[tuple[str, str, dict[str, object]]]:
    return list(tfcheck.typed(tfcheck.load_dir(MODULES / module), "resource"))


def _one(module: str, type_: str) -> dict[str, object]:
    (body,) = [b for t, _, b in _resources(module) if t == type_]
    return body


# ---------------------------------------------------------------------------
# The real terraform on the module's variables (skipped, and said so, without the binary)
# ---------------------------------------------------------------------------


def _terraform() -> str:
    terraform = shutil.which("terraform")
    if terraform is None:
        if os.environ.get("CI"):
            pytest.fail("CI is set but the terraform binary is not on PATH")
        pytest.skip("NOTICE: terraform not on PATH: the module's validations were NOT evaluated")
    return terraform


@pytest.fixture(scope="module")
def events_root(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Path, dict[str, str]]:
    terraform = _terraform()
    root = tmp_path_factory.mktemp("security-events-root")
    for name in ("variables.tf", "patterns.json"):  # the validation reads patterns.json through path.module
        shutil.copy(SECURITY_EVENTS / name, root / name)
    env = {**os.environ, "TF_CLI_CONFIG_FILE": os.devnull, "TF_DATA_DIR": str(root / ".terraform")}
    subprocess.run([terraform, "init", "-input=false", "-backend=false"], cwd=root, env=env,
                   capture_output=True, text=True, timeout=120, check=True)
    return terraform, root, env


def _plan(root: tuple[str, Path, dict[str, str]], **variables: str) -> subprocess.CompletedProcess[str]:
    terraform, directory, env = root
    args = [a for k, v in variables.items() for a in ("-var", f"{k}={v}")]
    return subprocess.run([terraform, "plan", "-lock=false", "-no-color", "-input=false", *args], cwd=directory,
                          env=env, capture_output=True, text=True, timeout=120, check=False)


def test_security_events_prefix_keeps_every_rule_name_within_64(events_root: tuple[str, Path, dict[str, str]]) -> None:
    ids = _rule_ids()
    assert "console-login-without-mfa" in ids
    longest = max(len(i) for i in ids)
    limit = EVENTBRIDGE_RULE_NAME_MAX - 1 - longest
    # the longest prefix accepted makes the longest rule name exactly 64 characters
    assert _plan(events_root, name_prefix="p" * limit).returncode == 0
    for too_long in (limit + 1, 40):  # 40 was accepted before: console-login-without-mfa then had 66
        result = _plan(events_root, name_prefix="p" * too_long)
        assert result.returncode != 0, f"a {too_long}-character name_prefix was accepted"
        message = " ".join(result.stderr.split())
        assert "would exceed 64 characters" in message, message
        assert f"at most {limit} characters" in message, message


def test_security_events_prefix_refuses_characters_eventbridge_refuses(
    events_root: tuple[str, Path, dict[str, str]],
) -> None:
    result = _plan(events_root, name_prefix="chatops/prod")
    assert result.returncode != 0
    assert "the characters EventBridge allows in a rule name" in " ".join(result.stderr.split())


def test_every_name_built_from_the_security_events_prefix_fits_its_service_limit() -> None:
    """At the longest accepted prefix, every name the module makes is within the AWS limit of its resource."""
    limits = {  # AWS API limits on Name (service API references)
        "aws_cloudwatch_event_rule": ("name", 64),
        "aws_cloudwatch_event_connection": ("name", 64),
        "aws_cloudwatch_event_api_destination": ("name", 64),
        "aws_iam_role": ("name", 64),
        "aws_sqs_queue": ("name", 80),
        "aws_sns_topic": ("name", 256),
        "aws_cloudwatch_metric_alarm": ("alarm_name", 255),
    }
    prefix = "p" * (EVENTBRIDGE_RULE_NAME_MAX - 1 - max(len(i) for i in _rule_ids()))
    seen = set()
    for type_, name, body in _resources("security-events"):
        if type_ not in limits:
            continue
        attr, limit = limits[type_]
        template = str(body[attr])
        keys = _rule_ids() if "${each.key}" in template else [""]
        for key in keys:
            rendered = template.replace("${var.name_prefix}", prefix).replace("${each.key}", key)
            assert "${" not in rendered, f"{type_}.{name}: unexpected interpolation in {template}"
            assert len(rendered) <= limit, f"{type_}.{name}: {rendered} has {len(rendered)} > {limit} characters"
        seen.add(type_)
    assert seen == set(limits)


# ---------------------------------------------------------------------------
# chatops-bot-service: the prefix (RDS identifiers), the DNS record's count, the rotation
# ---------------------------------------------------------------------------


# the prefix's and create_dns_record's validations run in the real terraform: tests/infra/test_service.py


def test_dns_record_count_comes_from_a_boolean() -> None:
    record = _one("chatops-bot-service", "aws_route53_record")
    match = re.fullmatch(r"\$\{var\.(\w+) \? 1 : 0\}", str(record["count"]))
    assert match, f"count = {record['count']}: a count must be known at plan; take a boolean variable"
    variable = _variables("chatops-bot-service")[match.group(1)]
    assert variable["type"] == "bool" and variable.get("default") is False, variable


# A count or for_each must be known at plan. An id or ARN may be known only after apply (a zone, a policy, a key
# made in the same configuration), so "is it null?" and "the set of these ARNs" must not decide how many
# instances exist. Exceptions name why they are safe.
UNKNOWN_AT_PLAN_ALLOWED = {
    ("chatops-bot", "count", "kms_key_arn"): "kms_key_arn is documented as an existing key's ARN (not yet moved to a "
    "boolean; issue 23 item 11 names only the DNS record and github-oidc)",
}


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_no_count_or_for_each_hangs_on_an_id_or_arn(module: str) -> None:
    found = []
    for type_, name, body in _resources(module):
        for meta in ("count", "for_each"):
            expr = str(body.get(meta, ""))
            # count: any use of an id/ARN variable (e.g. `var.zone_id == null ? 0 : 1`); for_each: the values
            # as keys (`toset(var.policy_arns)`), while a map keyed by the caller's names is fine
            pattern = r"var\.(\w+_(?:arns?|ids?))\b" if meta == "count" else r"toset\(var\.(\w+_(?:arns?|ids?))\)"
            for var in re.findall(pattern, expr):
                if (module, meta, var) not in UNKNOWN_AT_PLAN_ALLOWED:
                    found.append(f"{type_}.{name}: {meta} = {expr}")
    assert found == []


def test_github_oidc_policy_attachments_are_keyed_by_name() -> None:
    variables = _variables("github-oidc")
    for role in ("plan", "apply"):
        attachment = [b for t, n, b in _resources("github-oidc")
                      if t == "aws_iam_role_policy_attachment" and n == f"infra_{role}"]
        assert [a["for_each"] for a in attachment] == [f"${{var.{role}_policy_arns}}"]
        assert variables[f"{role}_policy_arns"]["type"] == "${map(string)}"
    # issue 22 item 12: no ReadOnlyAccess by default (every pull request can assume the plan role)
    assert variables["plan_policy_arns"]["default"] == {}


def test_database_password_is_not_rotated_at_first_apply() -> None:
    rotation = _one("chatops-bot-service", "aws_secretsmanager_secret_rotation")
    assert rotation.get("rotate_immediately") is False


# ---------------------------------------------------------------------------
# security-events: the SNS subscription on a fresh stack, and what the README says about the key
# ---------------------------------------------------------------------------


def test_sns_subscription_does_not_wait_for_a_bot_that_is_not_up() -> None:
    subscription = _one("security-events", "aws_sns_topic_subscription")
    assert subscription["endpoint_auto_confirms"] == "${var.sns_wait_for_confirmation}"
    variable = _variables("security-events")["sns_wait_for_confirmation"]
    assert variable["type"] == "bool" and variable["default"] is False
    readme = " ".join((SECURITY_EVENTS / "README.md").read_text().split())
    assert "sns_subscription_pending_confirmation" in readme and "-replace=" in readme


def test_security_events_readme_does_not_say_the_key_is_in_the_state() -> None:
    readme = " ".join((SECURITY_EVENTS / "README.md").read_text().split())
    assert not re.search(r"API key is read into the (Terraform )?state", readme, re.I)
    # ... because nothing in the module reads a secret's value
    data = [t for t, _, _ in tfcheck.typed(tfcheck.load_dir(SECURITY_EVENTS), "data")]
    assert "aws_secretsmanager_secret_version" not in data
    connection = _one("security-events", "aws_cloudwatch_event_connection")
    assert connection["lifecycle"][0]["ignore_changes"] == ["auth_parameters"]  # type: ignore[index]

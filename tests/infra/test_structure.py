"""Every Terraform file in infra/ parses, and the modules have the shape and security properties the guides promise."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from bot.contract import JOB_KINDS
from bot.contract import JOB_KINDS
from bot.oidc_subjects import job_subjects
from tests.infra import tfcheck
from tests.infra.tfcheck import INFRA, MODULE_NAMES, MODULES


@pytest.mark.parametrize("directory", tfcheck.all_tf_dirs(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_tf_file_parses(directory: Path) -> None:
    files = tfcheck.load_dir(directory)
    assert files, f"no .tf files in {directory}"


def test_the_modules_exist() -> None:
    assert sorted(p.name for p in MODULES.iterdir() if p.is_dir()) == sorted(MODULE_NAMES)


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_module_passes_every_check(module: str) -> None:
    assert tfcheck.check_module(MODULES / module) == []


@pytest.mark.parametrize("directory", tfcheck.all_tf_dirs(), ids=lambda p: str(p.relative_to(INFRA)))
def test_every_directory_has_secure_policies(directory: Path) -> None:
    files = tfcheck.load_dir(directory)
    assert tfcheck.check_policies(files, directory.name) == []
    assert tfcheck.check_variables_and_outputs(files, directory.name) == []


@pytest.mark.parametrize("module", MODULE_NAMES)
def test_readme_documents_inputs_outputs_and_an_example(module: str) -> None:
    readme = (MODULES / module / "README.md").read_text()
    files = tfcheck.load_dir(MODULES / module)
    for kind, heading in (("variable", "## Inputs"), ("output", "## Outputs")):
        assert heading in readme, f"{module}/README.md lacks {heading}"
        for name, _ in tfcheck.labelled(files, kind):
            assert f"`{name}`" in readme, f"{module}/README.md does not document {kind} {name}"
    assert re.search(rf'```hcl\s.*source\s*=\s*"[^"]*{module}"', readme, re.S), (
        f"{module}/README.md has no usage example"
    )


def test_every_github_oidc_role_trusts_only_its_subjects() -> None:
    files = tfcheck.load_dir(MODULES / "github-oidc")
    docs = tfcheck.policy_documents(files)
    # the one source (bot/oidc_subjects.py), with the module's variables in place of a repository and environment;
    # defect 2: pull requests get the `pull_request` subject; no environment may reach the plan role;
    # issue 22 item 13: each role trusts only its own workflows' jobs
    repo, deploy, apply = "${var.github_repository}", "${var.deploy_environment}", "${var.apply_environment}"
    kinds = {
        "trust_infra_plan": ("plan", deploy),
        "trust_infra_apply": ("apply", apply),
        "trust_build": ("build", deploy),
        "trust_lambda_deploy": ("lambda-deploy", deploy),
        "trust_web_deploy": ("web-deploy", deploy),
        "trust_api_deploy": ("api-deploy", deploy),
        "trust_security_scan": ("security-scan", deploy),
    }
    expected = {
        name: list(job_subjects(kind, repository=repo, environment=env)) for name, (kind, env) in kinds.items()
    }
    assert expected["trust_infra_plan"] == [
        f"repo:{repo}:pull_request:job_workflow_ref:{repo}/.github/workflows/infra-ci.yml@refs/pull/*/merge",
        f"repo:{repo}:ref:refs/heads/main:job_workflow_ref:{repo}/.github/workflows/infra-ci.yml@refs/heads/main",
    ]
    assert {n for n in docs if n.startswith("trust_")} == set(expected)
    for name, subjects in expected.items():
        (statement,) = tfcheck.statements(docs[name])
        sub = [c for c in statement["condition"] if c["variable"].endswith(":sub")]
        assert [c["values"] for c in sub] == [subjects], name
        assert [c["test"] for c in sub] == ["StringLike"], name

    roles = {name: body for t, name, body in tfcheck.typed(files, "resource") if t == "aws_iam_role"}
    assert set(roles) == {n.removeprefix("trust_") for n in expected}
    for name, body in roles.items():
        assert body["assume_role_policy"] == f"${{data.aws_iam_policy_document.trust_{name}.json}}"
    # one role per job kind, named ${name_prefix}-github-<suffix> (bot/contract.py)
    suffixes = {str(body["name"]).removeprefix("${var.name_prefix}-github-") for body in roles.values()}
    assert suffixes == {kind.role_suffix for kind in JOB_KINDS.values()}


def _actions(files: dict, doc: str) -> set[str]:
    return {a for st in tfcheck.statements(tfcheck.policy_documents(files)[doc]) for a in st["actions"]}


def test_github_oidc_role_action_lists() -> None:
    files = tfcheck.load_dir(MODULES / "github-oidc")
    ecr_push = {
        "ecr:BatchCheckLayerAvailability",
        "ecr:BatchGetImage",
        "ecr:CompleteLayerUpload",
        "ecr:GetDownloadUrlForLayer",
        "ecr:InitiateLayerUpload",
        "ecr:PutImage",
        "ecr:UploadLayerPart",
    }
    # Deploy roles read images (Lambda makes the UpdateFunctionCode caller read the image) but cannot push.
    ecr_read = {"ecr:BatchGetImage", "ecr:GetDownloadUrlForLayer", "ecr:DescribeImages", "ecr:DescribeRepositories"}
    lambda_deploy = {
        "lambda:CreateAlias",  # defect 3: the first deploy of a function creates its alias
        "lambda:GetAlias",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:InvokeFunction",  # issue 23 item 7: the new version is invoked with the health event
        "lambda:ListVersionsByFunction",
        "lambda:PublishVersion",
        "lambda:UpdateAlias",
        "lambda:UpdateFunctionCode",
        "cloudwatch:GetMetricData",  # ... and judged by its own metrics (ExecutedVersion)
    }
    assert _actions(files, "build") == ecr_push | {"ecr:GetAuthorizationToken"}
    assert _actions(files, "security_scan") == {
        "ecr:DescribeImageScanFindings",
        "ecr:DescribeImages",
        "ecr:DescribeRepositories",
    }
    assert _actions(files, "lambda_deploy") == ecr_read | lambda_deploy | {"cloudwatch:DescribeAlarms"}
    assert _actions(files, "api_deploy") == (
        ecr_read
        | lambda_deploy
        | {"cloudwatch:DescribeAlarms", "apigateway:GET", "apigateway:POST", "apigateway:PATCH"}
    )
    assert _actions(files, "web_deploy") == {
        "s3:ListBucket",
        "s3:DeleteObject",
        "s3:GetObject",
        "s3:PutObject",
        "cloudfront:CreateInvalidation",
        "cloudfront:GetDistributionConfig",
        "cloudfront:UpdateDistribution",
    }
    # The plan role writes nothing but its lock, and reads no secret.
    plan = _actions(files, "state_read") | _actions(files, "infra_plan")
    assert not any(a.startswith("secretsmanager:") for a in plan)
    writes = {a for a in plan if re.search(r":(Put|Delete|Update|Create)", a)}
    assert writes == {"s3:PutObject", "s3:DeleteObject", "dynamodb:PutItem", "dynamodb:DeleteItem"}
    lock = [
        st
        for st in tfcheck.statements(tfcheck.policy_documents(files)["state_read"])
        if st.get("sid") == "StateLockFile"
    ]
    assert lock[0]["resources"] == ["${local.state_bucket_arn}/${var.state_key_prefix}*.tflock"]


def test_web_deploy_writes_only_the_release_prefix_and_the_ledger() -> None:
    files = tfcheck.load_dir(MODULES / "github-oidc")
    sts = {st["sid"]: st for st in tfcheck.statements(tfcheck.policy_documents(files)["web_deploy"])}
    assert sts["WriteReleasePrefix"]["resources"] == ["${local.web_bucket_arn}/${var.web_release_prefix}*"]
    assert sts["ReadWriteLedger"]["resources"] == ["${local.web_bucket_arn}/${var.web_ledger_key}"]
    assert sts["SwitchDistribution"]["resources"] == ["${local.web_distribution_arn}"]
    writes = [st for st in sts.values() if {"s3:PutObject", "s3:DeleteObject"} & set(st["actions"])]
    assert {sid for sid in (st["sid"] for st in writes)} == {"WriteReleasePrefix", "ReadWriteLedger"}


def test_the_bot_role_never_moves_aliases() -> None:
    # issue 23 item 10: the bot has no instant rollback (`/rollback` dispatches rollback.yml, which moves the alias
    # with its own role after the environment's gate), so its role may not move one, and no switch pretends to
    files = tfcheck.load_dir(MODULES / "chatops-bot")
    doc = tfcheck.policy_documents(files)["bot"]
    dynamic = {a for dyn in doc["dynamic"] for a in dyn["statement"]["content"][0]["actions"]}
    static = {a for st in doc.get("statement", []) for a in st["actions"]}
    assert "lambda:UpdateAlias" not in dynamic | static
    terraform = [p for p in INFRA.rglob("*.tf*") if p.is_file() and ".venv-checkov" not in p.parts
                 and ".terraform" not in p.parts]
    assert terraform and not [p for p in terraform if "enable_instant_rollback" in p.read_text()]
    bot_code = [p for p in (INFRA.parent / "bot").rglob("*.py") if "actions/release" not in p.as_posix()]
    assert not [p for p in bot_code if "update_alias" in p.read_text()], "the bot itself moves no alias"
    assert _actions(files, "bot") <= {
        "secretsmanager:DescribeSecret",
        "secretsmanager:GetSecretValue",
        "kms:Decrypt",
        "lambda:GetAlias",
        "lambda:GetFunction",
        "lambda:GetFunctionConfiguration",
        "lambda:ListAliases",
        "lambda:ListVersionsByFunction",
        "cloudwatch:DescribeAlarms",
        "s3:ListBucket",
        "s3:GetObject",
        "cloudfront:GetDistribution",
        "cloudfront:ListInvalidations",
        "sqs:ChangeMessageVisibility",
        "sqs:DeleteMessage",
        "sqs:GetQueueAttributes",
        "sqs:ReceiveMessage",
        "sqs:SendMessage",  # only to the parked queue (test_bot_role_drains_the_dead_letters_and_...)
    }


def test_bot_secrets_hold_no_values_in_terraform() -> None:
    for directory in tfcheck.all_tf_dirs():
        for type_, name, _ in tfcheck.typed(tfcheck.load_dir(directory), "resource"):
            assert type_ != "aws_secretsmanager_secret_version", (
                f"{directory}: {name} would put a secret value in state"
            )


def test_queue_and_topic_policies_are_limited_to_the_rules() -> None:
    files = tfcheck.load_dir(MODULES / "security-events")
    docs = tfcheck.policy_documents(files)
    for name in ("events_queue", "events_topic", "dlq"):
        st = tfcheck.statements(docs[name])[0]
        assert st["principals"] == [{"type": "Service", "identifiers": ["events.amazonaws.com"]}], name
        assert st["condition"] == [
            {"test": "ArnEquals", "variable": "aws:SourceArn", "values": "${local.rule_arns}"}
        ], name
    assert re.search(
        r"aws_cloudwatch_event_rule\.detection",
        str(dict(tfcheck.labelled(files, "locals")) or files["main.tf"]["locals"]),
    )


def test_api_destination_sends_x_api_key_and_has_retries_and_dlq() -> None:
    files = tfcheck.load_dir(MODULES / "security-events")
    resources = {(t, n): b for t, n, b in tfcheck.typed(files, "resource")}
    connection = resources[("aws_cloudwatch_event_connection", "bot")]
    assert connection["authorization_type"] == "API_KEY"
    api_key = connection["auth_parameters"][0]["api_key"][0]
    assert api_key["key"] == "x-api-key"
    # the key must not land in Terraform state (the plan role reads it): a literal placeholder, replaced out of
    # band by infra/scripts/set-events-api-key.sh, and never reverted by Terraform
    assert "${" not in api_key["value"] and "placeholder" in api_key["value"]
    assert connection["lifecycle"][0]["ignore_changes"] == ["auth_parameters"]
    destination = resources[("aws_cloudwatch_event_api_destination", "bot")]
    assert destination["invocation_endpoint"] == "${var.bot_base_url}/aws/events"
    target = resources[("aws_cloudwatch_event_target", "bot")]
    assert target["retry_policy"] and target["dead_letter_config"][0]["arn"] == "${aws_sqs_queue.dlq.arn}"
    subscription = resources[("aws_sns_topic_subscription", "bot")]
    assert subscription["protocol"] == "https" and subscription["endpoint"] == "${var.bot_base_url}/aws/sns"


def test_checkov_skips_are_justified_inline() -> None:
    for path in INFRA.rglob("*.tf"):
        if ".venv-checkov" in path.parts:
            continue
        for comment in tfcheck.comments(path):
            if "checkov:skip" in comment:
                assert re.search(r"checkov:skip=CKV2?_[A-Z]+_\d+:\S.{20,}", comment), f"{path}: unjustified {comment!r}"


# ---------------------------------------------------------------------------
# Example composition and environment templates: a static stand-in for `terraform validate`.
# ---------------------------------------------------------------------------

EXAMPLE = INFRA / "examples" / "complete"


def test_example_module_calls_match_module_interfaces() -> None:
    example = tfcheck.load_dir(EXAMPLE)
    calls = dict(tfcheck.labelled(example, "module"))
    assert {Path(c["source"]).name for c in calls.values()} == set(MODULE_NAMES)
    meta = {"source", "providers", "count", "for_each", "depends_on"}
    for name, call in calls.items():
        module_dir = (EXAMPLE / call["source"]).resolve()
        variables = dict(tfcheck.labelled(tfcheck.load_dir(module_dir), "variable"))
        passed = set(call) - meta
        assert passed <= set(variables), f"module {name} passes unknown inputs {passed - set(variables)}"
        required = {v for v, body in variables.items() if "default" not in body}
        assert required <= passed, f"module {name} misses required inputs {required - passed}"


@pytest.mark.parametrize("env", ["dev", "staging", "production"])
def test_environment_tfvars_match_the_example(env: str) -> None:
    tfvars = tfcheck.load_file(INFRA / "environments" / f"{env}.tfvars")
    variables = dict(tfcheck.labelled(tfcheck.load_dir(EXAMPLE), "variable"))
    assert set(tfvars) <= set(variables), f"{env}.tfvars sets undeclared {set(tfvars) - set(variables)}"
    required = {v for v, body in variables.items() if "default" not in body}
    assert required <= set(tfvars), f"{env}.tfvars misses {required - set(tfvars)}"
    assert tfvars["environment"] == env
    assert tfvars["state_key_prefix"].endswith(f"/{env}/")


def test_only_production_manages_github_and_production_is_gated() -> None:
    managing = [
        e
        for e in ("dev", "staging", "production")
        if tfcheck.load_file(INFRA / "environments" / f"{e}.tfvars").get("manage_github")
    ]
    assert managing == ["production"]
    production = tfcheck.load_file(INFRA / "environments" / "production.tfvars")
    gate = production["github_environments"]["production"]
    # gated by the bot's protection rule (gate: bot); GitHub reviewers are optional (docs/environments.md)
    assert gate["use_protection_rule"] is True and production["chatops_app_id"]


def test_no_module_reads_a_secret_value_into_state() -> None:
    """Issue 11 defect 2: a data source or resource holding a secret's value puts it in the state."""
    for directory in tfcheck.all_tf_dirs():
        files = tfcheck.load_dir(directory)
        kinds = {t for t, _, _ in tfcheck.typed(files, "data")} | {t for t, _, _ in tfcheck.typed(files, "resource")}
        assert not kinds & {"aws_secretsmanager_secret_version", "random_password"}, directory
    script = INFRA / "scripts" / "set-events-api-key.sh"
    assert "update-connection" in script.read_text() and os.access(script, os.X_OK)


def test_delivery_dead_letters_are_drained_parked_and_alarmed_on_age() -> None:
    """Issue 24 item 3: EventBridge's target and SNS's subscription send what they give up on to the delivery
    dead-letter queue, which the bot drains; what the bot cannot read or record goes to the parked queue (never
    drained, so it cannot loop); an alarm fires when a drained queue's oldest message is too old."""
    files = tfcheck.load_dir(MODULES / "security-events")
    resources = {(t, n): b for t, n, b in tfcheck.typed(files, "resource")}
    target = resources[("aws_cloudwatch_event_target", "bot")]
    assert target["retry_policy"][0] == {"maximum_event_age_in_seconds": "${var.maximum_event_age_in_seconds}",
                                         "maximum_retry_attempts": "${var.maximum_retry_attempts}"}
    subscription = resources[("aws_sns_topic_subscription", "bot")]
    assert "aws_sqs_queue.dlq.arn" in subscription["redrive_policy"]
    assert "healthyRetryPolicy" in subscription["delivery_policy"]
    dlq = resources[("aws_sqs_queue", "dlq")]
    events = resources[("aws_sqs_queue", "events")]
    for queue in (dlq, events):  # the bot's poison, and SQS's own redrive, end in the parked queue
        assert "aws_sqs_queue.parked.arn" in queue["redrive_policy"]
    assert ("aws_sqs_queue_policy", "parked") not in resources  # nothing outside the account writes there
    age = resources[("aws_cloudwatch_metric_alarm", "queue_age")]
    assert age["metric_name"] == "ApproximateAgeOfOldestMessage" and age["namespace"] == "AWS/SQS"
    assert age["for_each"] == "${local.drained_queues}" and age["threshold"] == "${var.dead_letter_age_alarm_seconds}"
    drained = str(files["targets.tf"]["locals"])
    assert "aws_sqs_queue.dlq.name" in drained and "aws_sqs_queue.events[0].name" in drained
    assert "aws_sqs_queue.parked" not in drained.split("drained_queues", 1)[1]
    parked = resources[("aws_cloudwatch_metric_alarm", "parked_not_empty")]
    assert parked["dimensions"] == {"QueueName": "${aws_sqs_queue.parked.name}"}


def test_sns_dead_letter_queue_uses_a_key_sns_may_use() -> None:
    """SNS writes to an encrypted dead-letter queue only with a customer-managed key whose policy lets
    sns.amazonaws.com use it (Amazon SNS Developer Guide, "Amazon SNS dead-letter queues")."""
    files = tfcheck.load_dir(MODULES / "security-events")
    resources = {(t, n): b for t, n, b in tfcheck.typed(files, "resource")}
    assert resources[("aws_sqs_queue", "dlq")]["kms_master_key_id"] == "${local.dlq_kms_key}"
    assert "local.use_sns ? local.topic_kms_key" in str(files["targets.tf"]["locals"])
    kms = {st["sid"]: st for st in tfcheck.statements(tfcheck.policy_documents(files)["kms"])}
    assert kms["KeyPolicySnsDeadLetters"]["principals"] == [{"type": "Service", "identifiers": ["sns.amazonaws.com"]}]
    assert kms["KeyPolicySnsDeadLetters"]["actions"] == ["kms:Decrypt", "kms:GenerateDataKey"]


def test_bot_role_drains_the_dead_letters_and_sends_only_to_the_parked_queue() -> None:
    files = tfcheck.load_dir(MODULES / "chatops-bot")
    doc = tfcheck.policy_documents(files)["bot"]
    bodies = {d["statement"]["content"][0]["sid"]: d["statement"] for d in doc["dynamic"]}
    consume = bodies["ConsumeSecurityEvents"]["content"][0]
    assert consume["resources"] == "${compact([var.events_queue_arn, var.events_dead_letter_queue_arn])}"
    park = bodies["ParkUnreadableSecurityEvents"]
    assert park["content"][0]["actions"] == ["sqs:SendMessage"]
    assert park["content"][0]["resources"] == ["${statement.value}"]
    assert "var.events_parked_queue_arn" in park["for_each"]
    example = dict(tfcheck.labelled(tfcheck.load_dir(EXAMPLE), "module"))["chatops_bot"]
    assert example["events_dead_letter_queue_arn"] == "${module.security_events.dead_letter_queue_arn}"
    assert example["events_parked_queue_arn"] == "${module.security_events.parked_queue_arn}"


def _aws_resource_types() -> set[str]:
    return {
        t for m in MODULE_NAMES for t, _, _ in tfcheck.typed(tfcheck.load_dir(MODULES / m), "resource")
        if t.startswith("aws_")
    }


def test_the_plan_role_reads_configuration_and_its_state_only() -> None:
    # issue 22 item 12: the plan role was AWS ReadOnlyAccess and every pull request can assume it, so a PR could read
    # every S3 object and DynamoDB item of the account. Now: the state objects and the configuration reads of the
    # resource types the modules use, nothing else.
    types = _aws_resource_types()
    assert types - set(tfcheck.PLAN_REFRESH_ACTIONS) == set(), "a resource type whose refresh reads are not listed"
    assert set(tfcheck.PLAN_REFRESH_ACTIONS) - types == set(), "refresh reads listed for a type no module uses"
    files = tfcheck.load_dir(MODULES / "github-oidc")
    docs = tfcheck.policy_documents(files)
    (refresh,) = tfcheck.statements(docs["infra_plan_refresh"])
    assert set(refresh["actions"]) == frozenset().union(*tfcheck.PLAN_REFRESH_ACTIONS.values())
    assert refresh["resources"] == ["*"] and refresh["sid"] == "PlanRefreshConfiguration"
    assert not [a for a in refresh["actions"] if tfcheck.DATA_READ_ACTION.match(a)]
    assert docs["infra_plan"]["source_policy_documents"] == [
        "${data.aws_iam_policy_document.state_read.json}",
        "${data.aws_iam_policy_document.infra_plan_refresh.json}",
    ]
    # the only data reads: the state objects under the state prefix and the lock table's lock items
    for st in tfcheck.statements(docs["state_read"]):
        for action in st["actions"]:
            if tfcheck.DATA_READ_ACTION.match(action):
                assert st["resources"] in (
                    ["${local.state_bucket_arn}/${var.state_key_prefix}*"], ["${statement.value}"]
                ), (action, st["resources"])
    # and no managed policy by default; ReadOnlyAccess refused by the variable's validation
    variables = dict(tfcheck.labelled(files, "variable"))
    assert variables["plan_policy_arns"]["default"] == {}
    (validation,) = variables["plan_policy_arns"]["validation"]
    pattern = re.search(r'regex\("([^"]*ReadOnlyAccess[^"]*)"', validation["condition"])
    assert pattern, validation["condition"]
    hcl_regex = pattern.group(1).replace("\\\\", "\\")
    assert re.search(hcl_regex, "arn:aws:iam::aws:policy/ReadOnlyAccess")
    assert re.search(hcl_regex, "arn:aws:iam::aws:policy/job-function/ViewOnlyAccess") is None

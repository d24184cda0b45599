"""Structural checks on the Terraform in infra/, on the code as parsed by python-hcl2.

Each ``check_*`` function returns a list of human-readable violations (empty = pass),
so the same function serves the real tree and the mutation tests that loosen a copy.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sandbox import hcl

ROOT = Path(__file__).resolve().parents[2]
INFRA = ROOT / "infra"
MODULES = INFRA / "modules"
MODULE_NAMES = ("github-oidc", "security-events", "github-environments", "chatops-bot", "chatops-bot-service")

OIDC_PREFIX = "token.actions.githubusercontent.com:"
# A subject follows the repository's customised template (repo, context, job_workflow_ref; github-environments,
# bot/oidc_subjects.py): the configured repository (a validated variable or a literal owner/name), exactly
# pull_request, the main branch or one named environment, then the job's workflow file in the SAME repository at a
# ref. The only wildcards allowed are in that ref: a release tag (refs/tags/v*) or a pull request's merge ref.
# Nothing else.
_REPO = r"(?:\$\{var\.github_repository\}|[A-Za-z0-9_.-]+/[A-Za-z0-9_.-]+)"
_ENV = r"(?:\$\{var\.[a-z_]+_environment\}|[A-Za-z0-9_.-]+)"
SUBJECT_RE = re.compile(
    rf"^repo:(?P<repo>{_REPO}):(?P<context>pull_request|ref:refs/heads/main|environment:{_ENV})"
    r":job_workflow_ref:(?P=repo)/\.github/workflows/(?P<workflow>[A-Za-z0-9_.-]+\.ya?ml)"
    r"@(?P<ref>refs/heads/main|refs/tags/v\*|refs/pull/\*/merge)$"
)
# which refs each context may run at: a pull request only at its merge ref, a branch subject only at that branch
CONTEXT_REFS = {"pull_request": {"refs/pull/*/merge"}, "ref:refs/heads/main": {"refs/heads/main"}}
ENVIRONMENT_REFS = {"refs/heads/main", "refs/tags/v*"}

# Which trust documents may accept a subject that names no environment (bot/contract.py: the plan and
# security-scan jobs name none). Every other OIDC trust accepts environment subjects only, and these
# accept no environment subject (defect 2: any branch could name the plan environment).
REPOSITORY_SCOPE_TRUSTS: dict[str, frozenset[str]] = {
    "trust_infra_plan": frozenset({"pull_request", "ref:refs/heads/main"}),
    "trust_security_scan": frozenset({"ref:refs/heads/main"}),
}

# Statements allowed to use Resource "*", because AWS offers nothing narrower.
# sid -> (allowed action prefix or exact actions, reason)
STAR_RESOURCE_ALLOWED: dict[str, tuple[frozenset[str] | str, str]] = {
    "EcrGetAuthorizationToken": (
        frozenset({"ecr:GetAuthorizationToken"}),
        "ecr:GetAuthorizationToken has no resource-level permissions",
    ),
    "KeyPolicy": ("kms:", "a KMS key policy's Resource is always '*' (= this key)"),
    "ReadVersionMetrics": (
        frozenset({"cloudwatch:GetMetricData"}),
        "cloudwatch:GetMetricData has no resource-level permissions (Service Authorization Reference)",
    ),
}

# What `terraform plan` calls to refresh each AWS resource type infra/modules/* uses (the read functions of
# terraform-provider-aws 5.99.1, internal/service/<service>/<type>.go: Describe/List/Get of configuration and
# tags). The data sources used (aws_caller_identity, aws_partition, aws_region, aws_iam_policy_document) need no
# permission (sts:GetCallerIdentity is always allowed). A new resource type fails tests/infra until its reads are
# listed here and in the plan role's policy (issue 22 item 12).
PLAN_REFRESH_ACTIONS: dict[str, frozenset[str]] = {
    "aws_cloudwatch_event_api_destination": frozenset({"events:DescribeApiDestination"}),
    "aws_cloudwatch_event_connection": frozenset({"events:DescribeConnection"}),
    "aws_cloudwatch_event_rule": frozenset({"events:DescribeRule", "events:ListTagsForResource"}),
    "aws_cloudwatch_event_target": frozenset({"events:ListTargetsByRule"}),
    "aws_cloudwatch_log_group": frozenset(
        {"logs:DescribeLogGroups", "logs:ListTagsForResource", "logs:ListTagsLogGroup"}
    ),
    "aws_cloudwatch_metric_alarm": frozenset({"cloudwatch:DescribeAlarms", "cloudwatch:ListTagsForResource"}),
    "aws_db_instance": frozenset({"rds:DescribeDBInstances", "rds:ListTagsForResource"}),
    "aws_db_parameter_group": frozenset(
        {"rds:DescribeDBParameterGroups", "rds:DescribeDBParameters", "rds:ListTagsForResource"}
    ),
    "aws_db_subnet_group": frozenset({"rds:DescribeDBSubnetGroups", "rds:ListTagsForResource"}),
    "aws_ecs_cluster": frozenset({"ecs:DescribeClusters", "ecs:ListTagsForResource"}),
    "aws_ecs_service": frozenset({"ecs:DescribeServices", "ecs:ListTagsForResource"}),
    "aws_ecs_task_definition": frozenset({"ecs:DescribeTaskDefinition", "ecs:ListTagsForResource"}),
    "aws_iam_openid_connect_provider": frozenset({"iam:GetOpenIDConnectProvider"}),
    "aws_iam_role": frozenset({"iam:GetRole", "iam:ListRolePolicies", "iam:ListAttachedRolePolicies"}),
    "aws_iam_role_policy": frozenset({"iam:GetRolePolicy"}),
    "aws_iam_role_policy_attachment": frozenset({"iam:ListAttachedRolePolicies"}),
    "aws_kms_alias": frozenset({"kms:ListAliases"}),
    "aws_kms_key": frozenset(
        {"kms:DescribeKey", "kms:GetKeyPolicy", "kms:GetKeyRotationStatus", "kms:ListResourceTags"}
    ),
    "aws_lb": frozenset(
        {"elasticloadbalancing:DescribeLoadBalancers", "elasticloadbalancing:DescribeLoadBalancerAttributes",
         "elasticloadbalancing:DescribeTags"}
    ),
    "aws_lb_listener": frozenset(
        {"elasticloadbalancing:DescribeListeners", "elasticloadbalancing:DescribeListenerAttributes",
         "elasticloadbalancing:DescribeTags"}
    ),
    "aws_lb_listener_rule": frozenset({"elasticloadbalancing:DescribeRules", "elasticloadbalancing:DescribeTags"}),
    "aws_lb_target_group": frozenset(
        {"elasticloadbalancing:DescribeTargetGroups", "elasticloadbalancing:DescribeTargetGroupAttributes",
         "elasticloadbalancing:DescribeTags"}
    ),
    "aws_route53_record": frozenset({"route53:ListResourceRecordSets", "route53:GetHostedZone"}),
    "aws_secretsmanager_secret": frozenset({"secretsmanager:DescribeSecret", "secretsmanager:GetResourcePolicy"}),
    "aws_secretsmanager_secret_rotation": frozenset({"secretsmanager:DescribeSecret"}),
    "aws_security_group": frozenset({"ec2:DescribeSecurityGroups"}),
    "aws_vpc_security_group_egress_rule": frozenset({"ec2:DescribeSecurityGroupRules"}),
    "aws_vpc_security_group_ingress_rule": frozenset({"ec2:DescribeSecurityGroupRules"}),
    "aws_sns_topic": frozenset({"sns:GetTopicAttributes", "sns:ListTagsForResource"}),
    "aws_sns_topic_policy": frozenset({"sns:GetTopicAttributes"}),
    "aws_sns_topic_subscription": frozenset({"sns:GetSubscriptionAttributes"}),
    "aws_sqs_queue": frozenset({"sqs:GetQueueAttributes", "sqs:GetQueueUrl", "sqs:ListQueueTags"}),
    "aws_sqs_queue_policy": frozenset({"sqs:GetQueueAttributes"}),
}
STAR_RESOURCE_ALLOWED["PlanRefreshConfiguration"] = (
    frozenset().union(*PLAN_REFRESH_ACTIONS.values()),
    "configuration reads of the resource types terraform plan refreshes; most have no resource-level permissions",
)
# Calls that return data (not configuration): the plan role, which every pull request can assume, gets none of
# them beyond its own state objects and lock (Service Authorization Reference, access level "Read" on payloads).
DATA_READ_ACTION = re.compile(
    r"^(s3:GetObject.*|dynamodb:(GetItem|BatchGetItem|Query|Scan|GetRecords|ExecuteStatement|PartiQLSelect)"
    r"|secretsmanager:GetSecretValue|sqs:ReceiveMessage|kms:(Decrypt|GenerateDataKey.*|ReEncrypt.*)"
    r"|ssm:GetParameters?(ByPath)?|logs:(GetLogEvents|FilterLogEvents|StartQuery|GetQueryResults|StartLiveTail)"
    r"|lambda:GetFunction|ecr:(BatchGetImage|GetDownloadUrlForLayer)|athena:GetQueryResults|sts:AssumeRole.*"
    r"|.*\*.*)$"
)


# ---------------------------------------------------------------------------
# Parsing
# ---------------------------------------------------------------------------


def _clean(value: Any) -> Any:
    """Drop python-hcl2's metadata and the quotes it keeps around string literals."""
    if isinstance(value, dict):
        return {
            _clean(k): _clean(v)
            for k, v in value.items()
            if k not in ("__is_block__", "__comments__", "__inline_comments__")
        }
    if isinstance(value, list):
        return [_clean(v) for v in value]
    if isinstance(value, str) and len(value) >= 2 and value[0] == value[-1] == '"':
        return value[1:-1]
    return value


def comments(path: Path) -> list[str]:
    """All comments python-hcl2 attached anywhere in a file (used for checkov skip reasons)."""
    found: list[str] = []

    def walk(v: Any) -> None:
        if isinstance(v, dict):
            for k, item in v.items():
                if k == "__comments__":
                    found.extend(c.get("value", "") for c in item)
                else:
                    walk(item)
        elif isinstance(v, list):
            for item in v:
                walk(item)

    walk(hcl.load(path))
    return found


def load_file(path: Path) -> dict[str, Any]:
    return _clean(hcl.load(path))


def load_dir(directory: Path) -> dict[str, dict[str, Any]]:
    """Every .tf file of one directory (not recursive), by file name."""
    return {p.name: load_file(p) for p in sorted(directory.glob("*.tf"))}


def all_tf_dirs(root: Path = INFRA) -> list[Path]:
    return sorted(
        {p.parent for p in root.rglob("*.tf") if ".terraform" not in p.parts and ".venv-checkov" not in p.parts}
    )


def labelled(files: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, dict[str, Any]]]:
    """Blocks with one label (variable, output, module, locals-free kinds): (name, body)."""
    for parsed in files.values():
        for block in parsed.get(kind, []):
            yield from block.items()


def typed(files: dict[str, dict[str, Any]], kind: str) -> Iterator[tuple[str, str, dict[str, Any]]]:
    """Blocks with two labels (resource, data): (type, name, body)."""
    for parsed in files.values():
        for block in parsed.get(kind, []):
            for type_, named in block.items():
                for name, body in named.items():
                    yield type_, name, body


def policy_documents(files: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {name: body for type_, name, body in typed(files, "data") if type_ == "aws_iam_policy_document"}


def statements(document: dict[str, Any]) -> list[dict[str, Any]]:
    """Static and dynamic ``statement`` blocks of one aws_iam_policy_document."""
    found = list(document.get("statement", []))
    for dyn in document.get("dynamic", []):
        for name, body in dyn.items():
            if name == "statement":
                found.extend(body.get("content", []))
    return found


def _as_list(value: Any) -> list[Any] | None:
    return value if isinstance(value, list) else None


# ---------------------------------------------------------------------------
# Checks
# ---------------------------------------------------------------------------


def check_statement(where: str, st: dict[str, Any]) -> list[str]:
    errors: list[str] = []
    sid = st.get("sid", "")
    for forbidden in ("not_actions", "not_principals", "not_resources"):
        if forbidden in st:
            errors.append(f"{where}: {forbidden} is not allowed (inverts the grant)")

    actions = _as_list(st.get("actions"))
    if actions is None or not actions:
        errors.append(f"{where}: actions must be a non-empty literal list, got {st.get('actions')!r}")
        actions = []
    for action in actions:
        if not isinstance(action, str) or "*" in action or "?" in action:
            errors.append(f"{where}: wildcard or non-literal action {action!r}")

    for principal in st.get("principals", []):
        ids = principal.get("identifiers")
        if principal.get("type") == "*" or not isinstance(ids, list) or any(i == "*" for i in ids):
            errors.append(f"{where}: wildcard principal {principal!r}")

    resources = st.get("resources")
    if resources is not None and isinstance(resources, list) and "*" in resources:
        rule = next((v for k, v in STAR_RESOURCE_ALLOWED.items() if sid.startswith(k)), None)
        if rule is None:
            errors.append(f"{where}: Resource '*' without a documented reason (sid {sid!r})")
        else:
            allowed = rule[0]
            ok = (
                all(a in allowed for a in actions)
                if isinstance(allowed, frozenset)
                else all(isinstance(a, str) and a.startswith(allowed) for a in actions)
            )
            if not ok:
                errors.append(
                    f"{where}: Resource '*' is only allowed for "
                    f"{sorted(allowed) if isinstance(allowed, frozenset) else allowed}"
                )

    if "sts:AssumeRoleWithWebIdentity" in actions:
        errors.extend(check_oidc_trust(where, st))
    return errors


def check_oidc_trust(where: str, st: dict[str, Any]) -> list[str]:
    """A GitHub OIDC trust statement: pinned aud, sub on main or one environment and one workflow file (SUBJECT_RE)."""
    errors: list[str] = []
    if st.get("effect", "Allow") != "Allow":
        return errors
    if st.get("actions") != ["sts:AssumeRoleWithWebIdentity"]:
        errors.append(f"{where}: an OIDC trust statement must grant only sts:AssumeRoleWithWebIdentity")

    principals = st.get("principals", [])
    if len(principals) != 1 or principals[0].get("type") != "Federated":
        errors.append(f"{where}: the only principal must be the Federated GitHub OIDC provider")
    else:
        for ident in principals[0].get("identifiers", []):
            if not re.fullmatch(
                r"\$\{(local\.oidc_provider_arn|aws_iam_openid_connect_provider\.[a-z_]+(\[0\])?\.arn)\}", str(ident)
            ):
                errors.append(f"{where}: federated principal {ident!r} is not the GitHub OIDC provider")

    conditions = st.get("condition", [])
    by_var: dict[str, list[dict[str, Any]]] = {}
    for cond in conditions:
        variable = str(cond.get("variable", ""))
        by_var.setdefault(variable, []).append(cond)
        # sub: StringLike (the ref of a tag or pull request varies; SUBJECT_RE bounds the wildcards); others equal
        wanted = "StringLike" if variable == OIDC_PREFIX + "sub" else "StringEquals"
        if variable.startswith(OIDC_PREFIX) and cond.get("test") != wanted:
            errors.append(f"{where}: {variable} must be compared with {wanted}, not {cond.get('test')!r}")

    aud = by_var.get(OIDC_PREFIX + "aud", [])
    if not any(c.get("test") == "StringEquals" and c.get("values") == ["sts.amazonaws.com"] for c in aud):
        errors.append(f"{where}: {OIDC_PREFIX}aud is not pinned to sts.amazonaws.com with StringEquals")

    subs = by_var.get(OIDC_PREFIX + "sub", [])
    if not subs:
        errors.append(f"{where}: {OIDC_PREFIX}sub is not restricted")
    for cond in subs:
        values = cond.get("values")
        if not isinstance(values, list) or not values:
            errors.append(f"{where}: sub values must be a literal, non-empty list, got {values!r}")
            continue
        for value in values:
            match = SUBJECT_RE.fullmatch(value) if isinstance(value, str) else None
            if match is None:
                errors.append(
                    f"{where}: subject {value!r} is not repo:<repo>:pull_request, repo:<repo>:ref:refs/heads/main "
                    "or repo:<repo>:environment:<name>, then :job_workflow_ref:<repo>/.github/workflows/<file>@<ref>"
                )
            elif match["ref"] not in CONTEXT_REFS.get(match["context"], ENVIRONMENT_REFS):
                errors.append(f"{where}: subject {value!r}: a {match['context']} job does not run at {match['ref']}")
    return errors


def check_trust_scope(where: str, document: str, st: dict[str, Any]) -> list[str]:
    """pull_request and ref subjects only in the repository-scope trusts; environments only elsewhere."""
    errors: list[str] = []
    allowed = REPOSITORY_SCOPE_TRUSTS.get(document, frozenset())
    for cond in st.get("condition", []):
        if cond.get("variable") != OIDC_PREFIX + "sub" or not isinstance(cond.get("values"), list):
            continue
        for value in cond["values"]:
            match = SUBJECT_RE.fullmatch(str(value))
            tail = match["context"] if match else str(value).split(":", 2)[-1]
            if tail.startswith("environment:"):
                if document in REPOSITORY_SCOPE_TRUSTS:
                    errors.append(f"{where}: {document} must not accept the environment subject {value!r}")
            elif tail not in allowed:
                errors.append(f"{where}: {document} must not accept the subject {value!r} (no environment named)")
    return errors


def check_policies(files: dict[str, dict[str, Any]], module: str = "") -> list[str]:
    errors: list[str] = []
    for name, doc in policy_documents(files).items():
        for i, st in enumerate(statements(doc)):
            where = f"{module}:data.aws_iam_policy_document.{name}[statement {i} {st.get('sid', '')}]"
            errors.extend(check_statement(where, st))
            if "sts:AssumeRoleWithWebIdentity" in (_as_list(st.get("actions")) or []):
                errors.extend(check_trust_scope(where, name, st))
    return errors


_DOC_REF = re.compile(r"^\$\{data\.aws_iam_policy_document\.[a-z_]+(\[0\])?\.json\}$")
_POLICY_ATTRS = {
    "aws_iam_role": "assume_role_policy",
    "aws_iam_role_policy": "policy",
    "aws_iam_policy": "policy",
    "aws_sqs_queue_policy": "policy",
    "aws_sns_topic_policy": "policy",
    "aws_kms_key": "policy",
    "aws_secretsmanager_secret_policy": "policy",
}


def check_policies_are_documents(files: dict[str, dict[str, Any]], module: str = "") -> list[str]:
    """Every policy attribute points at an aws_iam_policy_document, so check_policies sees it."""
    errors = []
    for type_, name, body in typed(files, "resource"):
        attr = _POLICY_ATTRS.get(type_)
        if attr and not _DOC_REF.fullmatch(str(body.get(attr, ""))):
            errors.append(f"{module}:{type_}.{name}.{attr} must reference data.aws_iam_policy_document.<name>.json")
    return errors


def extract_regexes(condition: str) -> list[str]:
    """The RE2 patterns inside `can(regex("...", ...))` of a validation condition."""
    return [m.encode().decode("unicode_escape") for m in re.findall(r'regex\("((?:[^"\\]|\\.)*)"', condition)]


def check_subject_variables(files: dict[str, dict[str, Any]], module: str = "") -> list[str]:
    """Variables pasted into OIDC subjects must have a validation regex that rejects wildcards."""
    errors = []
    referenced: set[str] = set()
    for doc in policy_documents(files).values():
        for st in statements(doc):
            for cond in st.get("condition", []):
                if cond.get("variable") == OIDC_PREFIX + "sub":
                    for value in cond.get("values") or []:
                        referenced.update(re.findall(r"\$\{var\.([a-z_]+)\}", str(value)))
    variables = dict(labelled(files, "variable"))
    for name in sorted(referenced):
        body = variables.get(name)
        if body is None:
            errors.append(f"{module}: subject variable {name} is not declared")
            continue
        patterns = [p for v in body.get("validation", []) for p in extract_regexes(str(v.get("condition", "")))]
        if not patterns:
            errors.append(f"{module}: variable {name} is pasted into an OIDC subject but has no regex validation")
        for pattern in patterns:
            for bad in ("*", "acme/*", "acme/app:*", "main*"):
                if re.fullmatch(pattern, bad):
                    errors.append(f"{module}: validation of {name} accepts the wildcard value {bad!r}")
    return errors


def check_versions(files: dict[str, dict[str, Any]], module: str = "") -> list[str]:
    errors = []
    versions = files.get("versions.tf", {})
    terraform = (versions.get("terraform") or [{}])[0]
    if not terraform.get("required_version"):
        errors.append(f"{module}: versions.tf lacks required_version")
    providers = (terraform.get("required_providers") or [{}])[0]
    # Exact pins: the version whose schema tests/infra/test_provider_schema.py checks (check_pins compares them).
    expected = {"aws": (r"hashicorp/aws", r"=?\s*5\.\d+\.\d+"), "github": (r"integrations/github", r"=?\s*6\.\d+\.\d+")}
    used = {t.split("_", 1)[0] for t, _, _ in typed(files, "resource")} | {
        t.split("_", 1)[0] for t, _, _ in typed(files, "data")
    }
    for provider in sorted(used & set(expected)):
        spec = providers.get(provider)
        if not isinstance(spec, dict):
            errors.append(f"{module}: provider {provider} is used but not in required_providers")
            continue
        source_re, version_re = expected[provider]
        if not re.fullmatch(source_re, str(spec.get("source", ""))):
            errors.append(f"{module}: provider {provider} source is {spec.get('source')!r}")
        if not re.fullmatch(version_re, str(spec.get("version", ""))):
            errors.append(
                f"{module}: provider {provider} version {spec.get('version')!r} is not pinned as {version_re}"
            )
    return errors


def check_variables_and_outputs(files: dict[str, dict[str, Any]], module: str = "") -> list[str]:
    errors = []
    for name, body in labelled(files, "variable"):
        if not str(body.get("description", "")).strip():
            errors.append(f"{module}: variable {name} has no description")
        if "type" not in body:
            errors.append(f"{module}: variable {name} has no type")
        for v in body.get("validation", []):
            if not str(v.get("error_message", "")).strip():
                errors.append(f"{module}: variable {name} has a validation without error_message")
    for name, body in labelled(files, "output"):
        if not str(body.get("description", "")).strip():
            errors.append(f"{module}: output {name} has no description")
    return errors


def check_module(directory: Path) -> list[str]:
    """Every structural and security check on one module directory."""
    module = directory.name
    files = load_dir(directory)
    errors: list[str] = []
    for required in ("README.md", "versions.tf", "variables.tf", "outputs.tf", "main.tf"):
        if not (directory / required).is_file():
            errors.append(f"{module}: missing {required}")
    errors += check_versions(files, module)
    errors += check_variables_and_outputs(files, module)
    errors += check_policies(files, module)
    errors += check_policies_are_documents(files, module)
    errors += check_subject_variables(files, module)
    return errors


# ---------------------------------------------------------------------------
# EventBridge patterns
# ---------------------------------------------------------------------------


def hcl_object_to_python(expr: str) -> Any:
    """Turn the HCL object literal python-hcl2 prints inside jsonencode(...) into Python."""
    body = expr.strip()
    if body.startswith("${jsonencode(") and body.endswith(")}"):
        body = body[len("${jsonencode(") : -2]
    body = re.sub(r"([{,]\s*)([A-Za-z_][A-Za-z0-9_-]*)\s*=", r'\1"\2":', body)
    body = re.sub(r'("[^"]*")\s*=', r"\1:", body)
    return json.loads(body)


def pattern_matches(pattern: Any, event: Any) -> bool:
    """A subset of EventBridge matching: exact values, nested objects, {"exists": bool}."""
    if isinstance(pattern, dict):
        if not isinstance(event, dict):
            return False
        return all(_field_matches(v, event, k) for k, v in pattern.items())
    return False


def _field_matches(rule: Any, event: dict[str, Any], key: str) -> bool:
    if isinstance(rule, dict):
        return pattern_matches(rule, event.get(key))
    present = key in event
    value = event.get(key)
    for option in rule:
        if isinstance(option, dict) and "exists" in option:
            if option["exists"] == present:
                return True
        elif present and value == option:
            return True
    return False

"""Issue 22 item 15: the parts of bot/deploys/commands.py that mutation testing found untested.

``/deploy stats`` and its period limits, ``--emergency``, ``promote``, ``link``/``unlink``/``whoami``, and the
length limits at their exact boundaries. Each test kills mutants that survived ``make mutation``
(docs/testing.md); the parser is pure, so the tests call it directly with the shipped example config.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from bot.config import Config, parse_config
from bot.deploys.commands import MAX_REASON, MAX_TEXT, USAGE, parse
from bot.domain import (
    DeployCommand,
    IdentityCommand,
    LockCommand,
    PromoteCommand,
    Reply,
    RollbackCommand,
    StatsCommand,
    StatusCommand,
)

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "chatops.yml"
ENV = {"TEAMS_OPS_WEBHOOK_URL": "https://example.invalid/hook"}
CONFIG = parse_config(yaml.safe_load(EXAMPLE.read_text(encoding="utf-8")), env=ENV)
DAY = 86400


def deploy(text: str, config: Config = CONFIG) -> Any:
    return parse(text, command="deploy", config=config)


def refused(result: Any, command: str = "deploy") -> str:
    assert isinstance(result, Reply) and result.ok is False, result
    assert result.text.startswith(":warning: ") and result.text.endswith("\n" + USAGE[command])
    return result.text.removeprefix(":warning: ").removesuffix("\n" + USAGE[command])


# ------------------------------------------------------------------------------------------ /deploy stats


@pytest.mark.parametrize(("text", "expected"), [
    ("stats", StatsCommand(None, "production", 30 * DAY)),
    ("stats 7d", StatsCommand(None, "production", 7 * DAY)),
    ("stats api", StatsCommand("api", "production", 30 * DAY)),
    ("stats staging", StatsCommand(None, "staging", 30 * DAY)),
    ("stats api staging 7d", StatsCommand("api", "staging", 7 * DAY)),
    ("stats 7d staging api", StatsCommand("api", "staging", 7 * DAY)),
    ("STATS web dev 2w", StatsCommand("web", "dev", 14 * DAY)),
    ("stats 1h", StatsCommand(None, "production", 3600)),  # the shortest period
    ("stats 60m", StatsCommand(None, "production", 3600)),
    ("stats 366d", StatsCommand(None, "production", 366 * DAY)),  # the longest
])
def test_stats_takes_service_environment_and_period_in_any_order(text: str, expected: StatsCommand) -> None:
    assert deploy(text) == expected


@pytest.mark.parametrize(("text", "reason"), [
    ("stats 59m", "`stats`: the period is between 1h and 366d."),
    ("stats 3599s", "`stats`: the period is between 1h and 366d."),
    ("stats 0d", "`stats`: the period is between 1h and 366d."),
    ("stats 367d", "`stats`: the period is between 1h and 366d."),
    ("stats 53w", "`stats`: the period is between 1h and 366d."),
    ("stats 30x", "`stats`: '30x' is not a duration like 90s, 30m, 2h, 1d or 1w."),
])
def test_stats_periods_outside_the_limits_are_refused(text: str, reason: str) -> None:
    assert refused(deploy(text)) == reason


@pytest.mark.parametrize(("text", "word"), [
    ("stats api web", "web"),  # one service
    ("stats staging production", "production"),  # one environment
    ("stats 30d 7d", "7d"),  # one period
    ("stats billing", "billing"),
    ("stats x7d", "x7d"),
    ("stats " + "q" * 60, "q" * 40),
])
def test_stats_refuses_a_second_or_unknown_word_and_lists_what_it_knows(text: str, word: str) -> None:
    assert refused(deploy(text)) == (
        f"`stats`: `{word}` is not a service, an environment or a period like 30d (services: api, web, worker; "
        "environments: dev, staging, production).")


def test_stats_without_production_needs_an_environment() -> None:
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["environments"] = {"qa": {"deployers": ["dev"]}, "live": {"deployers": ["dev"]}}
    for svc in data["services"].values():
        svc["environments"] = ["qa", "live"]
    config = parse_config(data, env=ENV)
    assert refused(deploy("stats api", config)) == "`stats` needs an environment (there is no `production`)."
    assert deploy("stats live", config) == StatsCommand(None, "live", 30 * DAY)


# ------------------------------------------------------------------------------------------ --emergency


@pytest.mark.parametrize("quoted", ['"payments are down"', "\u201cpayments are down\u201d", "'payments are down'",
                                    '"  payments   are\tdown "'])
def test_emergency_takes_a_quoted_reason(quoted: str) -> None:
    assert deploy(f"api v1.4.2 to production --emergency {quoted}") == DeployCommand(
        "api", "v1.4.2", "production", emergency="payments are down")
    assert deploy(f"--emergency {quoted} api v1.4.2 to production --force") == DeployCommand(
        "api", "v1.4.2", "production", force=True, emergency="payments are down")


def test_emergency_reason_limits() -> None:
    longest = "x" * MAX_REASON
    assert deploy(f'api v1 to production --emergency "{longest}"') == DeployCommand(
        "api", "v1", "production", emergency=longest)
    assert refused(deploy(f'api v1 to production --emergency "{longest}x"')) == (
        f"The emergency reason is longer than {MAX_REASON} characters.")
    for text in ("api v1 to production --emergency", 'api v1 to production --emergency ""',
                 'api v1 to production --emergency "   "'):
        assert refused(deploy(text)) == '`--emergency` needs a reason in quotes: `--emergency "payments are down"`.'


def test_emergency_is_for_deploys_only() -> None:
    assert refused(deploy('status --emergency "x"')) == "`--emergency` is for deploys only."
    assert refused(deploy('billing v1 to production --emergency "x"')).startswith("Unknown service `billing`")
    assert refused(parse('api production --emergency "x"', command="rollback", config=CONFIG), "rollback") == (
        "`--emergency` is for `/deploy <service> <ref> to <env>`.")
    # a word that only contains the flag is not the flag
    assert refused(deploy('api v1 to production x--emergency "y"')) == "Too many words."
    assert deploy("api v1 to production") == DeployCommand("api", "v1", "production", emergency="")


# ------------------------------------------------------------------------------------------ promote, identity


def test_promote() -> None:
    assert deploy("promote api staging to production") == PromoteCommand("api", "staging", "production")
    assert deploy("PROMOTE api staging TO production") == PromoteCommand("api", "staging", "production")
    shape = "`promote` takes `<service> <from-env> to <env>`, like `promote api staging to production`."
    for text in ("promote api staging production", "promote api staging to", "promote api staging at production",
                 "promote api staging to production now"):
        assert refused(deploy(text)) == shape
    assert refused(deploy("promote api staging to staging")) == (
        "`promote` moves a commit from one environment to another.")
    assert refused(deploy("promote api qa to production")).startswith("Unknown environment `qa`")
    assert refused(deploy("promote api staging to qa")).startswith("Unknown environment `qa`")
    assert refused(deploy("promote billing staging to production")).startswith("Unknown service `billing`")


@pytest.mark.parametrize(("text", "expected"), [
    ("link", IdentityCommand("link")), ("unlink", IdentityCommand("unlink")), ("whoami", IdentityCommand("whoami")),
    ("WHOAMI", IdentityCommand("whoami")), ("link abcd2345", IdentityCommand("link", "ABCD2345")),
])
def test_identity_commands(text: str, expected: IdentityCommand) -> None:
    assert deploy(text) == expected


@pytest.mark.parametrize("text", ["link abc", "link abcd23456", "link abcd-234", "link abcd234\u00e9"])
def test_link_codes_are_eight_ascii_letters_or_digits(text: str) -> None:
    assert refused(deploy(text)) == "`link <code>` takes the 8-character code shown after signing in to GitHub."


@pytest.mark.parametrize("head", ["unlink", "whoami"])
def test_identity_commands_take_no_arguments(head: str) -> None:
    assert refused(deploy(f"{head} now")) == f"`{head}` takes no arguments."
    assert refused(deploy("link a b")) == "`link` takes no arguments."


# ------------------------------------------------------------------------------------------ limits and shapes


def test_text_length_limit_is_inclusive() -> None:
    padding = " " * (MAX_TEXT - len("status"))
    assert deploy("status" + padding) == StatusCommand(None)
    assert refused(deploy("status" + padding + " ")) == "That command is too long."


def test_lock_duration_limit_is_inclusive() -> None:
    assert deploy("lock production for 90d") == LockCommand("production", 90 * DAY, "")
    assert refused(deploy("lock production for 91d")) == "A lock lasts at most 90 days; unlock it by hand after that."
    assert deploy("lock production for") == LockCommand("production", None, "for")
    assert deploy("lock production " + "r" * 400) == LockCommand("production", None, "r" * 300)


def test_lock_and_unlock_errors_list_the_environments_in_config_order() -> None:
    assert refused(deploy("lock qa")) == "`lock` needs an environment (known: dev, staging, production)."
    assert refused(deploy("unlock")) == "`unlock` needs an environment (known: dev, staging, production)."
    assert refused(deploy("unlock production now")) == "`unlock` takes one env."


def test_deploy_shape_errors() -> None:
    assert refused(deploy("")) == "Tell me what to deploy."
    assert refused(deploy("api")) == "Missing the ref and environment."
    assert refused(deploy("api v1")) == "Missing `to <env>`."
    assert refused(deploy("api v1 production")) == "Missing `to` before the environment."
    assert refused(deploy("api v1 to")) == "Missing `to <env>`."
    assert refused(deploy("api v1 at production")) == "Too many words."  # four words, the third not `to`
    assert refused(deploy("api v1 at staging now")) == "Too many words."
    assert refused(deploy("status api web")) == "`status` takes at most one service."
    assert refused(deploy("status billing")) == "Unknown service `billing` (known: api, web, worker)."
    assert refused(deploy("cancel r-ABCD2345")) == "`cancel` takes one request id like r-abcd2345."


def test_targets_are_checked_in_order_and_named() -> None:
    assert refused(deploy("billing v1 to qa")) == "Unknown service `billing` (known: api, web, worker)."
    assert refused(deploy("api v1 to qa")) == "Unknown environment `qa` (known: dev, production, staging)."
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["services"]["api"]["environments"] = ["staging", "dev"]
    config = parse_config(data, env=ENV)
    assert refused(deploy("api v1 to production", config)) == (
        "`api` cannot be deployed to `production` (allowed: staging, dev).")


def test_rollback_shapes() -> None:
    rollback = "rollback"
    assert parse("api production to v1.4.1 --force", command=rollback, config=CONFIG) == RollbackCommand(
        "api", "production", "v1.4.1", True)
    assert refused(parse("api production v1", command=rollback, config=CONFIG), rollback) == (
        "Name the service and the environment.")
    assert refused(parse("api production at v1", command=rollback, config=CONFIG), rollback) == (
        "Expected `to <version>` after the environment.")
    data = yaml.safe_load(EXAMPLE.read_text(encoding="utf-8"))
    data["services"]["api"]["rollback_workflow"] = ""
    config = parse_config(data, env=ENV)
    assert refused(parse("api production", command=rollback, config=config), rollback) == (
        "`api` has no rollback_workflow in the config.")


def test_approve_comments_are_what_follows_the_id() -> None:
    from bot.domain import ApproveCommand, RejectCommand
    assert parse("r-abcd2345   ship it  ", command="approve", config=CONFIG) == ApproveCommand("r-abcd2345", "ship it")
    assert parse("reject r-abcd2345 " + "n" * 600, command="approve", config=CONFIG) == RejectCommand(
        "r-abcd2345", "n" * 500)
    assert refused(parse("reject", command="approve", config=CONFIG), "approve") == (
        "`reject` needs a request id like r-abcd2345.")
    assert refused(parse("r-abcd234", command="approve", config=CONFIG), "approve") == (
        "`r-abcd234` is not a request id (they look like r-abcd2345).")


def test_unknown_commands_and_help() -> None:
    answer = parse("x", command="/" + "n" * 30, config=CONFIG)
    assert answer == Reply(f"Unknown command `{'n' * 20}`. Commands: /deploy, /approve, /rollback.")
    assert parse("help", command="/deploy", config=CONFIG) == Reply(USAGE["deploy"], ok=True)
    assert parse("--force help", command="rollback", config=CONFIG) == Reply(USAGE["rollback"], ok=True)


@pytest.mark.parametrize(("ref", "reason"), [
    ("", "the ref is empty"),
    ("x" * 256, "the ref is longer than 255 characters"),
    ("-" + "r" * 60, f"`-{'r' * 39}` may not start with '-'"),
    ("$" + "r" * 60, f"`${'r' * 39}` has characters a branch, tag or SHA cannot have"),
    ("a.." + "r" * 60, f"`a..{'r' * 37}` is not a valid git ref name"),
])
def test_ref_reasons_quote_at_most_40_characters(ref: str, reason: str) -> None:
    from bot.deploys.commands import validate_ref
    assert validate_ref(ref) == reason


def test_comments_keep_a_repeated_request_id() -> None:
    from bot.domain import ApproveCommand, RejectCommand
    text = "r-abcd2345 same as r-abcd2345, fine"
    assert parse(text, command="approve", config=CONFIG) == ApproveCommand("r-abcd2345", "same as r-abcd2345, fine")
    assert parse("reject " + text, command="approve", config=CONFIG) == RejectCommand(
        "r-abcd2345", "same as r-abcd2345, fine")


def test_unknown_names_are_quoted_up_to_40_characters() -> None:
    long = "z" * 60
    assert refused(deploy(f"{long} v1 to staging")) == f"Unknown service `{'z' * 40}` (known: api, web, worker)."
    assert refused(deploy(f"api v1 to {long}")) == (
        f"Unknown environment `{'z' * 40}` (known: dev, production, staging).")
    assert refused(parse(long, command="approve", config=CONFIG), "approve") == (
        f"`{'z' * 40}` is not a request id (they look like r-abcd2345).")
    assert refused(deploy(f"status {long}")) == f"Unknown service `{'z' * 40}` (known: api, web, worker)."


def test_only_leading_slashes_are_dropped_from_the_command() -> None:
    assert parse("status", command="//deploy", config=CONFIG) == StatusCommand(None)
    assert parse("status", command="/Xdeploy", config=CONFIG) == Reply(
        "Unknown command `Xdeploy`. Commands: /deploy, /approve, /rollback.")

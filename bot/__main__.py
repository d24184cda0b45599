"""``python -m bot`` / ``chatops-bot``: serve, check-config, setup-github, audit, install-workflows."""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
from datetime import UTC, datetime

from aiohttp import web

from bot.config import Config, load_config
from bot.config_yaml import located
from bot.deploys import install
from bot.environment import load_secrets
from bot.errors import ChatOpsError, ConfigError
from bot.logs import setup_logging


def _config_path(arg: str | None) -> str:
    return arg or os.environ.get("CHATOPS_CONFIG") or "chatops.yml"


def _load(path: str) -> Config:
    return load_config(path)


def _online(config: Config) -> int:
    from bot.deploys.online_check import online_checks

    failed = 0
    for ok, line in asyncio.run(online_checks(config, os.environ)):
        print(f"{'ok' if ok else 'FAIL'}: {line}", file=sys.stdout if ok else sys.stderr)
        failed += not ok
    return 1 if failed else 0


def cmd_setup_github(path: str) -> int:
    from bot.deploys.setup_github import setup_github

    config = load_config(path)
    failed = 0
    for ok, line in asyncio.run(setup_github(config, os.environ)):
        print(f"{'ok' if ok else 'FAIL'}: {line}", file=sys.stdout if ok else sys.stderr)
        failed += not ok
    return 1 if failed else 0


def cmd_check_config(path: str, *, online: bool = False) -> int:
    from bot.runtime.validate import load_valid_config  # the one validation: serve and reload use it too

    problems: list[str] = []
    try:
        config = load_valid_config(path, os.environ)
    except ConfigError as exc:
        problems = located(exc)  # "path: message (line N)"
    if problems:
        for p in problems:
            print(f"error: {p}", file=sys.stderr)
        print(f"{path}: {len(problems)} problem(s)", file=sys.stderr)
        return 1
    from bot.deploys.gates import gate_warnings

    for warning in gate_warnings(config, os.environ):
        print(f"warning: {warning}")
    print(f"{path}: ok")
    return _online(config) if online else 0


def cmd_serve(path: str, workers_arg: int | None = None) -> int:
    from bot.runtime.early_signals import EarlySignals

    # first of all: a SIGHUP or SIGTERM during start-up is remembered, never fatal (bot/runtime/early_signals.py)
    early = EarlySignals.install()
    from bot.runtime.shutdown import drain_seconds, serve
    from bot.runtime.supervisor import check_database, reuse_port, supervise, worker_count
    from bot.runtime.validate import load_valid_config
    from chatops.app import build_app  # heavy imports only when serving

    config = load_valid_config(path, os.environ)  # every problem at once, as check-config and reload see them
    secrets = load_secrets(config, os.environ)
    workers = worker_count(workers_arg, os.environ)
    check_database(os.environ.get("DATABASE_URL", ""), workers)
    if workers > 1:  # N processes on one port (SO_REUSEPORT); see bot/runtime/supervisor.py
        return supervise(path, workers, early=early)
    port = int(os.environ.get("PORT", "3000"))
    host = os.environ.get("HOST", "0.0.0.0")  # noqa: S104 - a web service listens on all interfaces

    from bot.runtime.pidfile import write_pid_file
    from chatops.app import RELOADER

    async def make() -> web.Application:
        return await build_app(config, secrets, config_path=path)

    def on_hup(app: web.Application) -> None:
        app[RELOADER].reload()

    supervised = reuse_port(os.environ)  # a child of `serve --workers N`: the supervisor owns the pid file
    pid = None if supervised else write_pid_file(os.environ)  # after the signal handlers, never before
    try:
        asyncio.run(serve(make, host=host, port=port, drain_s=drain_seconds(os.environ), on_hup=on_hup,
                          reuse_port=supervised, early=early))
    finally:
        EarlySignals.install()  # the loop's handlers are gone: a late signal must not skip the clean-up
        if pid is not None:
            pid.remove()
    return 0  # SIGTERM: drained and handed over (bot/runtime/shutdown.py)


async def _audit(since: datetime | None) -> int:
    from bot.runtime.audit_cli import read_audit  # reads an existing database only (never creates one)

    entries = await read_audit(os.environ, since=since)
    for e in entries:
        print(f"{e.at:%Y-%m-%dT%H:%M:%SZ}\t{e.actor}\t{e.action}\t{e.target}\t{e.channel or '-'}\t{e.result}"
              f"\t{e.detail}")
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="chatops-bot", description="ChatOps bot for GitHub Actions on AWS")
    sub = parser.add_subparsers(dest="cmd", required=True)
    serve = sub.add_parser("serve", help="run the web service on $PORT (default 3000)")
    serve.add_argument("--config", help="config file (default $CHATOPS_CONFIG or chatops.yml)")
    serve.add_argument("--workers", type=int, default=None,
                       help="server processes sharing the port (default $CHATOPS_WORKERS or 1; >1 needs PostgreSQL)")
    check = sub.add_parser("check-config", help="validate a config file and the environment's secrets")
    check.add_argument("path")
    check.add_argument("--online", action="store_true",
                       help="also contact Slack and GitHub: tokens, App installations, workflow files")
    setup = sub.add_parser("setup-github", help="enable the bot's deployment protection rule on gated environments "
                                                "(idempotent; needs GITHUB_APP_ID and a token that may administer "
                                                "the repositories)")
    setup.add_argument("path")
    sub.add_parser("reload", help="make the running bot re-read its config (SIGHUP through $CHATOPS_PID_FILE)")
    sub.add_parser("config-schema", help="print the JSON Schema of chatops.yml (docs/chatops.schema.json)")
    audit = sub.add_parser("audit", help="print the audit log")
    audit.add_argument("--since", help="ISO date or date-time (UTC if no zone)")
    install.add_parser(sub)
    args = parser.parse_args(argv)
    setup_logging()
    try:
        if args.cmd == "config-schema":
            from bot.config_model import schema_text

            print(schema_text(), end="")
            return 0
        if args.cmd == "check-config":
            return cmd_check_config(args.path, online=args.online)
        if args.cmd == "setup-github":
            return cmd_setup_github(args.path)
        if args.cmd == "reload":
            from bot.runtime.reload import cmd_reload

            return cmd_reload(os.environ)
        if args.cmd == "install-workflows":
            return install.cmd_install_workflows(args.dest, services=args.services, force=args.force,
                                                 with_infra=args.with_infra, infra_repo=args.infra_repo,
                                                 infra_ref=args.infra_ref)
        if args.cmd == "audit":
            since = None
            if args.since:
                try:
                    since = datetime.fromisoformat(args.since)
                except ValueError:
                    print(f"error: --since {args.since!r} is not an ISO date like 2026-11-28T09:00", file=sys.stderr)
                    return 2
                since = since if since.tzinfo else since.replace(tzinfo=UTC)
            return asyncio.run(_audit(since))
        return cmd_serve(_config_path(args.config), args.workers)
    except ConfigError as exc:
        for p in located(exc):
            print(f"error: {p}", file=sys.stderr)
        return 1
    except ChatOpsError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())

"""Config reload without a restart: ``SIGHUP`` (or ``python -m bot reload``, which sends it to the pid in
``CHATOPS_PID_FILE`` once that pid's command line shows it is the bot: bot/runtime/pidfile.py) re-reads the config file.
A new config that does not validate is refused with every problem logged, and the old one keeps serving. Each
replica reloads on its own signal (docs/configuration.md, "Reloading").

What a reload changes: the next command, click, webhook and worker step read the new config (people, groups,
environments, services and their repositories, routes, freezes, team rules). Requests already made keep what was
decided for them (their approvals needed, expiry, workflow and ref). Secrets, the Slack/Teams transport and the
``security`` section are read at start-up only: change those with a restart (a reload still validates them all,
with ``bot.runtime.validate``, the same function as ``serve`` and ``check-config``, and refuses a file they refuse).
"""

from __future__ import annotations

import logging
import os
import signal
import sys
from collections.abc import Mapping

from bot.config_yaml import located
from bot.deploys.pipeline import Pipeline
from bot.errors import ConfigError
from bot.runtime.pidfile import PidFileError, is_this_bot, pid_file, read_pid
from bot.runtime.validate import load_valid_config

log = logging.getLogger(__name__)
class Reloader:
    def __init__(self, *, path: str | os.PathLike[str], pipeline: Pipeline, env: Mapping[str, str]) -> None:
        self.path = path
        self.pipeline = pipeline
        self.env = env
        self.reloads = 0  # applied
        self.refused = 0

    def reload(self) -> bool:
        """Re-read the file; True when the new config now serves."""
        try:
            # the same validation as serve and check-config: sections, secrets, delivery and security settings
            config = load_valid_config(self.path, self.env)
        except ConfigError as exc:
            self.refused += 1
            for problem in located(exc):
                log.error("config reload refused: %s", problem)
            log.error("config reload refused with %d problem(s); the previous config keeps serving",
                      len(exc.problems))
            return False
        self.pipeline.config = config
        self.reloads += 1
        log.info("config reloaded: %d services in %d repositories, %d environments", len(config.services),
                 len(config.repositories), len(config.environments))
        return True


def cmd_reload(env: Mapping[str, str]) -> int:
    """``python -m bot reload``: SIGHUP to the bot whose pid is in the pid file (bot/runtime/pidfile.py), after checking
    from its command line that the process with that pid is the bot's ``serve``."""
    path = pid_file(env)
    try:
        pid = read_pid(path)
    except PidFileError as exc:
        print(f"error: no running bot found ({exc}; set CHATOPS_PID_FILE)", file=sys.stderr)
        return 1
    if not is_this_bot(pid):
        print(f"error: pid {pid} in {path} is not a running chatops bot (a stale pid file?); nothing signalled",
              file=sys.stderr)
        return 1
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        print(f"error: the bot (pid {pid} in {path}) is not running", file=sys.stderr)
        return 1
    except PermissionError:
        print(f"error: not allowed to signal pid {pid}", file=sys.stderr)
        return 1
    print(f"sent SIGHUP to {pid}: the bot re-reads its config (problems, if any, are in its log)")
    return 0

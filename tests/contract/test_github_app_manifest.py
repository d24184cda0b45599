"""Issue 23 item 10: docs/github-app-manifest.json asks for what the bot uses, in GitHub's manifest format.

Format: https://docs.github.com/en/apps/sharing-github-apps/registering-a-github-app-from-a-manifest ("GitHub App
Manifest parameters": ``name``, ``url`` (required), ``hook_attributes``, ``redirect_url`` (where the manifest flow
returns its code), ``callback_urls`` ("A full URL to redirect to after someone authorizes an installation. You can
provide up to 10 callback URLs"), ``setup_url``, ``description``, ``public``, ``default_events``,
``default_permissions`` (permission name -> access), ``request_oauth_on_install``, ``setup_on_update``).
Permission names as in https://docs.github.com/en/rest/authentication/permissions-required-for-github-apps
("Members" organization permission = ``members``; team membership needs it: GET
/orgs/{org}/teams/{team_slug}/memberships/{username}).
"""

from __future__ import annotations

import json
from pathlib import Path
from urllib.parse import urlsplit

from handlers.github_oauth import CALLBACK_PATH
from handlers.github_org import KNOWN_EVENTS
from sandbox.stack import Stack
from tests.contract.conftest import ROOT

MANIFEST = json.loads((ROOT / "docs" / "github-app-manifest.json").read_text(encoding="utf-8"))
DOCUMENTED = {"name", "url", "hook_attributes", "redirect_url", "callback_urls", "setup_url", "description", "public",
              "default_events", "default_permissions", "request_oauth_on_install", "setup_on_update"}
ACCESS = {"read", "write"}


def test_only_documented_parameters_and_access_levels() -> None:
    assert set(MANIFEST) <= DOCUMENTED, set(MANIFEST) - DOCUMENTED
    assert MANIFEST["url"].startswith("https://")
    assert set(MANIFEST["default_permissions"].values()) <= ACCESS
    assert set(MANIFEST["default_events"]) <= KNOWN_EVENTS


def test_members_read_for_github_team_rules_and_the_org_events_that_evict_its_cache() -> None:
    assert MANIFEST["default_permissions"]["members"] == "read"
    # the events handlers/github_org.py acts on to evict the team cache (they need Members: read)
    assert {"membership", "organization", "team"} <= set(MANIFEST["default_events"])


def test_the_oauth_callback_url_is_the_route_the_bot_serves() -> None:
    urls = MANIFEST["callback_urls"]
    assert isinstance(urls, list) and 1 <= len(urls) <= 10
    hook = urlsplit(MANIFEST["hook_attributes"]["url"])
    for url in urls:
        parts = urlsplit(url)
        assert parts.scheme == "https" and parts.netloc == hook.netloc and parts.path == CALLBACK_PATH, url
    # the load balancer forwards that path (infra/modules/chatops-bot-service/alb.tf)
    alb = (ROOT / "infra" / "modules" / "chatops-bot-service" / "alb.tf").read_text(encoding="utf-8")
    assert f'path = "{CALLBACK_PATH}"' in alb
    # with request_oauth_on_install GitHub would send installers to the callback without the bot's signed state,
    # which the callback refuses: the link starts from `/deploy link` only
    assert MANIFEST["request_oauth_on_install"] is False


async def test_the_app_serves_the_callback_path(tmp_path: Path) -> None:
    async with Stack(database_url=f"sqlite:///{tmp_path}/bot.db") as stack:
        status, page = await stack.get(urlsplit(MANIFEST["callback_urls"][0]).path)
        assert status == 400 and "code and state" in page, (status, page[:200])

"""The GitHub App's credentials from the environment, checked before anything signs with them.

GitHub generates an App's private key as a PEM file ("Private keys are in PEM format" — an RSA key,
``-----BEGIN RSA PRIVATE KEY-----``) and the App signs its JWTs with RS256:
https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/managing-private-keys-for-github-apps
and https://docs.github.com/en/apps/creating-github-apps/authenticating-with-a-github-app/generating-a-json-web-token-jwt-for-a-github-app.
So ``check-config`` and ``serve`` refuse a key that is not a PEM RSA private key (a base64 blob, a public key, a
key whose newlines became the two characters ``\\n``, a path put where the key goes) with the reason, instead of
failing at the first dispatch. The key itself never appears in a message.
"""

from __future__ import annotations

from collections.abc import Mapping

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key

__all__ = ["app_key_problems"]


def _key_text(env: Mapping[str, str]) -> tuple[str, str, list[str]]:
    """(the key, the variable it came from, problems reading it)."""
    if env.get("GITHUB_APP_PRIVATE_KEY"):
        return env["GITHUB_APP_PRIVATE_KEY"], "GITHUB_APP_PRIVATE_KEY", []
    path = env.get("GITHUB_APP_PRIVATE_KEY_FILE", "")
    if not path:
        return "", "", []
    try:
        with open(path, encoding="utf-8") as fh:
            return fh.read(), "GITHUB_APP_PRIVATE_KEY_FILE", []
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else "not a text file"
        return "", "", [f"env GITHUB_APP_PRIVATE_KEY_FILE: cannot read {path!r} ({reason})"]


def _pem_problem(key: str) -> str:
    """Why ``key`` is not a usable App key ("" = it is one)."""
    text = key.strip()
    if "-----BEGIN" not in text:
        return "is not a PEM private key (it must start with -----BEGIN RSA PRIVATE KEY-----: the .pem file GitHub "\
               "generated, whole)"
    if "\\n" in text and "\n" not in text:
        return "is a PEM key whose line breaks are the two characters \\n: store the file's real line breaks"
    try:
        loaded = load_pem_private_key(text.encode("utf-8"), password=None)
    except TypeError:
        return "is an encrypted PEM key: GitHub's App keys have no passphrase; give the key GitHub generated"
    except (ValueError, UnsupportedAlgorithm):
        return "is not a readable PEM private key (a public key, a certificate or a damaged file?)"
    if not isinstance(loaded, RSAPrivateKey):
        return "is not an RSA private key (GitHub signs App JWTs with RS256)"
    return ""


def app_key_problems(env: Mapping[str, str]) -> list[str]:
    """Problems with GITHUB_APP_ID and the App's private key, when an App is configured (else none)."""
    problems: list[str] = []
    app_id = env.get("GITHUB_APP_ID", "")
    if app_id and not (app_id.isascii() and app_id.isdigit()):
        problems.append("env GITHUB_APP_ID: must be the App's numeric id (App settings page, \"App ID\")")
    key, source, read_problems = _key_text(env)
    problems += read_problems
    if key and (reason := _pem_problem(key)):
        problems.append(f"env {source}: {reason}")
    return problems

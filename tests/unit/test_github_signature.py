"""``verify_signature`` (X-Hub-Signature-256) on GitHub's published example and on generated secrets, bodies and
tampered headers: only the exact lowercase ``sha256=`` HMAC of the body under the secret is accepted."""

from __future__ import annotations

import hashlib
import hmac

from hypothesis import given, settings
from hypothesis import strategies as st

from handlers.github import verify_signature


def test_githubs_published_example() -> None:
    # https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries#testing-the-webhook-payload-validation
    secret, body = b"It's a Secret to Everybody", b"Hello, World!"
    good = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    assert verify_signature(secret, body, good)
    assert not verify_signature(secret, body + b" ", good)
    assert not verify_signature(b"another secret", body, good)
    assert not verify_signature(secret, body, good.upper())
    assert not verify_signature(secret, body, good.replace("sha256=", "sha1="))


@settings(max_examples=300, deadline=None)
@given(secret=st.binary(min_size=1, max_size=80), body=st.binary(max_size=2000), tamper=st.integers(0, 70),
       other=st.text(max_size=80))
def test_only_the_exact_signature_is_accepted(secret: bytes, body: bytes, tamper: int, other: str) -> None:
    good = "sha256=" + hmac.new(secret, body, hashlib.sha256).hexdigest()
    bad = good[:tamper] + ("0" if good[tamper:tamper + 1] != "0" else "1") + good[tamper + 1:]
    assert verify_signature(secret, body, good)
    for header in (bad, good[:-1], good + "0", other, "sha256=" + other):
        assert verify_signature(secret, body, header) == (header == good), header

"""SNS message signature verification (SignatureVersion 1 = SHA1, 2 = SHA256) and subscription confirmation.

The signing certificate is fetched only over https from a host matching the allowed pattern (default
``sns.<region>.amazonaws.com``), without redirects, size-capped, and cached. Tests inject the pattern, an
SSL context trusting a loopback CA, or a ``cert_loader``; production uses the defaults.
"""

from __future__ import annotations

import base64
import binascii
import logging
import re
import ssl
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Mapping
from datetime import UTC, datetime
from urllib.parse import urlsplit

import aiohttp
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from bot.alerts.settings import DEFAULT_CERT_HOST
from bot.errors import VerificationError

log = logging.getLogger(__name__)
CertLoader = Callable[[str], Awaitable[bytes]]
MESSAGE_TYPES = ("Notification", "SubscriptionConfirmation", "UnsubscribeConfirmation")
_NOTIFICATION_KEYS = ("Message", "MessageId", "Subject", "Timestamp", "TopicArn", "Type")
_SUBSCRIPTION_KEYS = ("Message", "MessageId", "SubscribeURL", "Timestamp", "Token", "TopicArn", "Type")
_MAX_CERT = 64 * 1024


def string_to_sign(msg: Mapping[str, str]) -> bytes:
    """The canonical text AWS signs: ``Key\\nValue\\n`` for the type's keys in order (Subject only if present)."""
    keys = _NOTIFICATION_KEYS if msg.get("Type") == "Notification" else _SUBSCRIPTION_KEYS
    out = []
    for k in keys:
        if k == "Subject" and k not in msg:
            continue
        if k not in msg:
            raise VerificationError(f"sns message lacks {k}")
        out.append(f"{k}\n{msg[k]}\n")
    return "".join(out).encode("utf-8")


class SnsVerifier:
    def __init__(
        self,
        *,
        host_pattern: str = DEFAULT_CERT_HOST,
        cert_loader: CertLoader | None = None,
        ssl_context: ssl.SSLContext | None = None,
        timeout_s: float = 5.0,
        cache_size: int = 32,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self._host = re.compile(host_pattern)
        self._loader = cert_loader or self._fetch
        self._ssl = ssl_context
        self._timeout = aiohttp.ClientTimeout(total=timeout_s)
        self._cache: OrderedDict[str, tuple[rsa.RSAPublicKey, datetime, datetime]] = OrderedDict()
        self._clock = clock
        self._cache_size = cache_size
        self.fetches = 0  # how many certificates were actually loaded (observability; tests read it)

    def check_url(self, url: str, *, what: str) -> None:
        """Only https, no credentials, host matching the allowed pattern. Raises VerificationError."""
        try:
            parts = urlsplit(url)
            host = parts.hostname or ""
        except ValueError as exc:
            raise VerificationError(f"{what} is not a URL") from exc
        if parts.scheme != "https":
            raise VerificationError(f"{what} is not https")
        if parts.username or parts.password or not self._host.fullmatch(host):
            raise VerificationError(f"{what} host is not allowed")

    async def verify(self, msg: Mapping[str, str]) -> None:
        """Raise VerificationError unless ``msg`` carries a valid AWS SNS signature."""
        version = msg.get("SignatureVersion")
        algo: hashes.HashAlgorithm
        if version == "1":
            algo = hashes.SHA1()  # noqa: S303 - SNS SignatureVersion 1 is defined as SHA1withRSA
        elif version == "2":
            algo = hashes.SHA256()
        else:
            raise VerificationError("unsupported SignatureVersion")
        if msg.get("Type") not in MESSAGE_TYPES:
            raise VerificationError("unknown sns message type")
        cert_url = str(msg.get("SigningCertURL", ""))
        self.check_url(cert_url, what="SigningCertURL")
        try:
            signature = base64.b64decode(str(msg.get("Signature", "")), validate=True)
        except (binascii.Error, ValueError) as exc:
            raise VerificationError("signature is not base64") from exc
        key = await self._public_key(cert_url)
        try:
            key.verify(signature, string_to_sign(msg), padding.PKCS1v15(), algo)
        except InvalidSignature as exc:
            raise VerificationError("bad sns signature") from exc

    async def _public_key(self, url: str) -> rsa.RSAPublicKey:
        if url in self._cache:
            self._cache.move_to_end(url)
            return self._valid(*self._cache[url])
        pem = await self._loader(url)
        self.fetches += 1
        try:
            cert = x509.load_pem_x509_certificate(pem)
        except ValueError as exc:
            raise VerificationError("signing certificate is not a PEM certificate") from exc
        key = cert.public_key()
        if not isinstance(key, rsa.RSAPublicKey):
            raise VerificationError("signing certificate does not hold an RSA key")
        self._cache[url] = (key, cert.not_valid_before_utc, cert.not_valid_after_utc)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
        return self._valid(*self._cache[url])

    def _valid(self, key: rsa.RSAPublicKey, not_before: datetime, not_after: datetime) -> rsa.RSAPublicKey:
        """A certificate outside its validity period signs nothing (checked on every use, cached or not)."""
        now = self._clock()
        if not not_before <= now <= not_after:
            raise VerificationError("signing certificate is expired or not yet valid")
        return key

    async def _get(self, url: str, *, limit: int) -> bytes:
        try:
            async with aiohttp.ClientSession(timeout=self._timeout) as session, session.get(
                url, allow_redirects=False, ssl=self._ssl if self._ssl is not None else True
            ) as resp:
                if resp.status != 200:
                    raise VerificationError(f"GET returned HTTP {resp.status}")
                body = await resp.content.read(limit + 1)
        except (aiohttp.ClientError, TimeoutError) as exc:
            raise VerificationError(f"GET failed: {type(exc).__name__}") from exc
        if len(body) > limit:
            raise VerificationError("response too large")
        return body

    async def _fetch(self, url: str) -> bytes:
        log.info("fetching sns signing certificate: host=%s", urlsplit(url).hostname)
        return await self._get(url, limit=_MAX_CERT)

    async def confirm_subscription(self, msg: Mapping[str, str]) -> None:
        """GET the SubscribeURL (host-checked like the certificate URL). Call only after ``verify``."""
        url = str(msg.get("SubscribeURL", ""))
        self.check_url(url, what="SubscribeURL")
        await self._get(url, limit=_MAX_CERT)

"""Shared test helpers: a real Store on SQLite, a config, loopback HTTPS for SNS certs, signed SNS messages."""

from __future__ import annotations

import base64
import datetime as dt
import ipaddress
import json
import ssl
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

from bot.alerts.sns import string_to_sign
from bot.config import Config, parse_config
from bot.store.store import Store
from sandbox.paths import PUBLISHED_FIXTURES

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "cloudtrail"
SHARED_SNS = PUBLISHED_FIXTURES / "aws" / "sns"
TOPIC = "arn:aws:sns:us-east-1:123456789012:chatops-security"
API_KEY = "test-events-api-key-0123456789"

# fixture file -> (rule id, severity)
EXPECTED = {
    "access-denied.states-DeleteStateMachine.awsdocs.json": ("access-denied", "medium"),
    "console-login-failure.iam-user.awsdocs.json": ("console-login-failed", "high"),
    "console-login.root-no-mfa.awsdocs.json": ("root-activity", "critical"),
    "stop-logging.panther-analysis.json": ("cloudtrail-tampering", "critical"),
    "create-access-key.panther-analysis.yml-derived.json": ("iam-persistence", "high"),
}


def load(name: str) -> dict[str, Any]:
    return json.loads((FIXTURES / name).read_text(encoding="utf-8"))


def envelope(record: dict[str, Any], *, event_id: str | None = None) -> dict[str, Any]:
    """Wrap a CloudTrail record the way EventBridge delivers it."""
    dtype = "AWS Console Sign In via CloudTrail" if record["eventName"] == "ConsoleLogin" else \
        "AWS API Call via CloudTrail"
    return {
        "version": "0", "id": event_id or str(uuid.uuid4()), "detail-type": dtype,
        "source": "aws." + record["eventSource"].split(".")[0], "account": record.get("recipientAccountId", ""),
        "time": "2024-01-01T00:00:00Z", "region": record.get("awsRegion", ""), "resources": [], "detail": record,
    }


def make_config(**security: Any) -> Config:
    data = {
        "github": {"repository": "acme/app"},
        "slack": {"team_id": "T0SANDBOX", "channels": {"security": "C0SECURITY", "deploys": "C0DEPLOYS"}},
        "people": {"alice": {"slack": "U0ALICE"}, "bob": {"slack": "U0BOB"}},
        "environments": {"prod": {"deployers": ["alice"]}},
        "services": {"api": {"workflow": "deploy.yml", "environments": ["prod"]}},
        "routes": [{"when": {"kind": ["security"]}, "to": ["slack:security"], "mention": "here"}],
        "security": {"sns": {"topics": [TOPIC], "cert_host_pattern": r"^127\.0\.0\.1$"}, **security},
    }
    return parse_config(data, env={})


@pytest.fixture
def config() -> Config:
    return make_config()


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[Store]:
    s = await Store.open(f"sqlite:///{tmp_path}/chatops.db")
    yield s
    await s.close()


def _self_signed(cn: str, *, ip: str | None = None) -> tuple[rsa.RSAPrivateKey, bytes]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])
    now = dt.datetime.now(dt.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - dt.timedelta(days=1))
               .not_valid_after(now + dt.timedelta(days=2)))
    if ip:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address(ip))]),
                                        critical=False)
    cert = builder.sign(key, hashes.SHA256())
    return key, cert.public_bytes(serialization.Encoding.PEM)


class LoopbackTls:
    """An HTTPS server on 127.0.0.1 serving the SNS signing cert and SubscribeURL; it counts every hit."""

    def __init__(self, tmp: Path) -> None:
        tls_key, self.tls_cert = _self_signed("127.0.0.1", ip="127.0.0.1")
        self.signing_key, self.signing_cert = _self_signed("sns.amazonaws.com")
        (tmp / "tls.pem").write_bytes(self.tls_cert)
        (tmp / "tls.key").write_bytes(tls_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.server_ctx.load_cert_chain(tmp / "tls.pem", tmp / "tls.key")
        self.client_ctx = ssl.create_default_context(cadata=self.tls_cert.decode())
        self.hits: list[str] = []
        self.runner: web.AppRunner | None = None
        self.base = ""

    async def start(self) -> None:
        async def cert(request: web.Request) -> web.Response:
            self.hits.append(request.path_qs)
            return web.Response(body=self.signing_cert)

        async def confirm(request: web.Request) -> web.Response:
            self.hits.append(request.path_qs)
            return web.Response(text="<ConfirmSubscriptionResponse/>")

        app = web.Application()
        app.router.add_get("/SimpleNotificationService-test.pem", cert)
        app.router.add_get("/", confirm)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0, ssl_context=self.server_ctx)
        await site.start()
        port = self.runner.addresses[0][1]
        self.base = f"https://127.0.0.1:{port}"

    async def stop(self) -> None:
        if self.runner:
            await self.runner.cleanup()

    def sign(self, msg: dict[str, str], *, version: str = "2") -> dict[str, str]:
        msg = {**msg, "SignatureVersion": version}
        msg.setdefault("SigningCertURL", f"{self.base}/SimpleNotificationService-test.pem")
        algo = hashes.SHA256() if version == "2" else hashes.SHA1()
        sig = self.signing_key.sign(string_to_sign(msg), padding.PKCS1v15(), algo)
        return {**msg, "Signature": base64.b64encode(sig).decode()}

    def notification(self, message: str, *, topic: str = TOPIC, version: str = "2") -> dict[str, str]:
        return self.sign({
            "Type": "Notification", "MessageId": str(uuid.uuid4()), "TopicArn": topic, "Message": message,
            "Timestamp": "2024-01-01T00:00:00.000Z",
        }, version=version)


@pytest.fixture
async def tls(tmp_path: Path) -> AsyncIterator[LoopbackTls]:
    server = LoopbackTls(tmp_path)
    await server.start()
    yield server
    await server.stop()


@pytest.fixture(scope="module")
def moto_endpoint() -> Iterator[str]:
    """moto's server on an ephemeral loopback port (SQS ingress and dead-letter tests)."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()

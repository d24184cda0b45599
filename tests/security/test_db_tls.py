"""Issue 22 item 11: the database connection verifies the server certificate, not just encryption.

The task definition (infra/modules/chatops-bot-service) sets DATABASE_URL=postgresql:// with PGSSLMODE=verify-full
and PGSSLROOTCERT = AWS's RDS CA bundle, which the image carries (Dockerfile, certs/SOURCES.md). These tests open
the bot's real Store with exactly that environment against:

* the real PostgreSQL at 127.0.0.1:5432, which has no TLS: refused, never a plaintext fallback;
* a loopback server that speaks PostgreSQL's SSL negotiation and presents a certificate of a CA of its own
  (https://www.postgresql.org/docs/current/protocol-flow.html#PROTOCOL-FLOW-SSL: the client sends SSLRequest,
  8 bytes, code 80877103; the server answers one byte 'S' and the TLS handshake follows; after it the startup
  message): refused against the RDS bundle (a man in the middle without an RDS-issued certificate for the
  endpoint), accepted at the TLS layer with that CA as PGSSLROOTCERT (the server then answers the startup with an
  ErrorResponse, protocol-message-formats: 'E', int32 length, fields S/V/C/M, terminator).
"""

from __future__ import annotations

import asyncio
import datetime
import hashlib
import ipaddress
import re
import ssl
import struct
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from bot.errors import StoreError
from bot.store.store import Store
from tests.conftest import PG_DSN, require_postgres
from tests.infra import servicecheck, tfcheck
from tests.infra.tfcheck import MODULES

ROOT = Path(__file__).resolve().parents[2]
BUNDLE = ROOT / "certs" / "rds-global-bundle.pem"
SSL_REQUEST = struct.pack("!ii", 8, 80877103)


def test_the_vendored_rds_bundle_is_the_pinned_one_and_parses() -> None:
    data = BUNDLE.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    sources = (ROOT / "certs" / "SOURCES.md").read_text()
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert f"sha256: `{digest}`" in sources
    assert f"ARG RDS_BUNDLE_SHA256={digest}" in dockerfile
    assert "https://truststore.pki.rds.amazonaws.com/global/global-bundle.pem" in sources
    certs = x509.load_pem_x509_certificates(data)
    assert len(certs) == data.count(b"-----BEGIN CERTIFICATE-----") >= 50
    now = datetime.datetime.now(datetime.UTC)
    for cert in certs:
        names = cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)
        assert names and str(names[0].value).startswith("Amazon RDS"), cert.subject
        assert cert.extensions.get_extension_for_class(x509.BasicConstraints).value.ca, cert.subject
        assert cert.not_valid_after_utc > now, f"expired: {cert.subject}"
    # the image puts it where the task's PGSSLROOTCERT points
    path = re.search(r"COPY --from=build /opt/certs/rds-global-bundle.pem (\S+)", dockerfile)
    variables = dict(tfcheck.labelled(tfcheck.load_dir(MODULES / "chatops-bot-service"), "variable"))
    assert path and variables["db_sslrootcert"]["default"] == path.group(1)


def test_the_task_verifies_the_database_certificate() -> None:
    env = servicecheck.locals_of(tfcheck.load_dir(MODULES / "chatops-bot-service"))["fixed_environment"]
    assert env["PGSSLMODE"] == "${var.db_sslmode}" and env["PGSSLROOTCERT"] == "${var.db_sslrootcert}"
    variables = dict(tfcheck.labelled(tfcheck.load_dir(MODULES / "chatops-bot-service"), "variable"))
    assert variables["db_sslmode"]["default"] == "verify-full"
    (validation,) = variables["db_sslmode"]["validation"]
    assert '"require"' not in validation["condition"], "encryption without verification must be refused"


def _task_env(monkeypatch: pytest.MonkeyPatch, host: str, port: int, rootcert: Path) -> None:
    monkeypatch.setenv("PGHOST", host)
    monkeypatch.setenv("PGPORT", str(port))
    monkeypatch.setenv("PGDATABASE", "test")
    monkeypatch.setenv("PGUSER", "postgres")
    monkeypatch.setenv("PGSSLMODE", "verify-full")
    monkeypatch.setenv("PGSSLROOTCERT", str(rootcert))


@pytest.mark.postgres
async def test_a_server_without_tls_is_refused(monkeypatch: pytest.MonkeyPatch) -> None:
    require_postgres()
    target = urlsplit(PG_DSN)
    _task_env(monkeypatch, target.hostname or "127.0.0.1", target.port or 5432, BUNDLE)
    with pytest.raises(StoreError, match="cannot connect to PostgreSQL"):
        await Store.open("postgresql://")


def _ca_and_server(tmp: Path) -> tuple[Path, ssl.SSLContext]:
    def name(cn: str) -> x509.Name:
        return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, cn)])

    now = datetime.datetime.now(datetime.UTC)
    ca_key, key = ec.generate_private_key(ec.SECP256R1()), ec.generate_private_key(ec.SECP256R1())
    ca = (x509.CertificateBuilder().subject_name(name("test ca")).issuer_name(name("test ca"))
          .public_key(ca_key.public_key()).serial_number(1).not_valid_before(now - datetime.timedelta(hours=1))
          .not_valid_after(now + datetime.timedelta(hours=1))
          .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
          .sign(ca_key, hashes.SHA256()))
    cert = (x509.CertificateBuilder().subject_name(name("127.0.0.1")).issuer_name(ca.subject)
            .public_key(key.public_key()).serial_number(2).not_valid_before(now - datetime.timedelta(hours=1))
            .not_valid_after(now + datetime.timedelta(hours=1))
            .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(ca_key, hashes.SHA256()))
    (tmp / "ca.pem").write_bytes(ca.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    (tmp / "server.key").write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                                       serialization.PrivateFormat.PKCS8,
                                                       serialization.NoEncryption()))
    ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ctx.load_cert_chain(tmp / "server.pem", tmp / "server.key")
    return tmp / "ca.pem", ctx


def _error_response(code: str, message: str) -> bytes:
    fields = b"".join(k + v.encode() + b"\0" for k, v in ((b"S", "FATAL"), (b"V", "FATAL"), (b"C", code),
                                                           (b"M", message))) + b"\0"
    return b"E" + struct.pack("!i", 4 + len(fields)) + fields


@pytest.fixture
async def tls_postgres(tmp_path: Path) -> AsyncIterator[tuple[int, Path, list[str]]]:
    ca, ctx = _ca_and_server(tmp_path)
    seen: list[str] = []

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            if await reader.readexactly(8) != SSL_REQUEST:
                return
            writer.write(b"S")
            await writer.drain()
            await writer.start_tls(ctx)
            seen.append("tls")
            (length,) = struct.unpack("!i", await reader.readexactly(4))
            await reader.readexactly(length - 4)  # the startup message
            seen.append("startup")
            writer.write(_error_response("28000", "no pg_hba.conf entry (test server)"))
            await writer.drain()
        except (ssl.SSLError, ConnectionError, asyncio.IncompleteReadError):
            seen.append("handshake refused")
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield port, ca, seen


async def test_a_certificate_not_issued_by_rds_is_refused(
    monkeypatch: pytest.MonkeyPatch, tls_postgres: tuple[int, Path, list[str]]
) -> None:
    port, _, seen = tls_postgres
    _task_env(monkeypatch, "127.0.0.1", port, BUNDLE)
    with pytest.raises(StoreError, match="SSLCertVerificationError"):
        await Store.open("postgresql://")
    assert "startup" not in seen, "the startup message (user name, later the password) went to an unverified server"


async def test_a_certificate_of_the_configured_ca_gets_past_tls(
    monkeypatch: pytest.MonkeyPatch, tls_postgres: tuple[int, Path, list[str]]
) -> None:
    # the control: with the server's own CA as PGSSLROOTCERT the same connect gets to the startup message
    port, ca, seen = tls_postgres
    _task_env(monkeypatch, "127.0.0.1", port, ca)
    with pytest.raises(StoreError) as refused:
        await Store.open("postgresql://")
    assert "SSLCertVerificationError" not in str(refused.value)
    assert "startup" in seen

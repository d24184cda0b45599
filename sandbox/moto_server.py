"""Start moto's server on 127.0.0.1 and an ephemeral port, with Lambda running without Docker."""

from __future__ import annotations

import json
import urllib.request

from moto.server import ThreadedMotoServer


def start_moto() -> tuple[ThreadedMotoServer, str]:
    """Return the running server and its endpoint URL (for ``AWS_ENDPOINT_URL`` / ``endpoint_url``)."""
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    request = urllib.request.Request(
        f"{endpoint}/moto-api/config",
        data=json.dumps({"lambda": {"use_docker": False}}).encode(),
        headers={"Content-Type": "application/json"},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as resp:  # loopback only
        resp.read()
    return server, endpoint


def stop_moto(server: ThreadedMotoServer) -> None:
    server.stop()

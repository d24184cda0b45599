from __future__ import annotations

import json
import urllib.request

import boto3

from sandbox.moto_server import start_moto, stop_moto


def test_moto_on_ephemeral_port_without_docker() -> None:
    server, endpoint = start_moto()
    try:
        assert endpoint.startswith("http://127.0.0.1:") and not endpoint.endswith(":0")
        with urllib.request.urlopen(f"{endpoint}/moto-api/config", timeout=5) as resp:
            assert json.loads(resp.read())["lambda"]["use_docker"] is False
        s3 = boto3.client(
            "s3",
            endpoint_url=endpoint,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        s3.create_bucket(Bucket="sandbox-bucket")
        assert "sandbox-bucket" in [b["Name"] for b in s3.list_buckets()["Buckets"]]
    finally:
        stop_moto(server)

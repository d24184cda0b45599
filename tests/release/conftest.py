from __future__ import annotations

import json
import logging
import urllib.request
import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto.server import ThreadedMotoServer

from bot.actions.release import AwsClients, make_clients
from bot.actions.release.records import ReleaseRecord

from .fakes import FakeGitHub, HealthEndpoint

_FAKE_ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SECURITY_TOKEN": "testing",
    "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
    "AWS_REGION": "us-east-1",
}


def digest_uri(char: str, repo: str = "api") -> str:
    return f"123456789012.dkr.ecr.us-east-1.amazonaws.com/{repo}@sha256:{char * 64}"


@pytest.fixture(scope="session")
def moto_endpoint() -> Iterator[str]:
    with pytest.MonkeyPatch.context() as mp:
        for key, value in _FAKE_ENV.items():
            mp.setenv(key, value)
        mp.delenv("AWS_PROFILE", raising=False)
        mp.delenv("AWS_ENDPOINT_URL", raising=False)
        logging.getLogger("werkzeug").setLevel(logging.WARNING)
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
        server.start()
        port = server.get_host_and_port()[1]
        endpoint = f"http://127.0.0.1:{port}"
        request = urllib.request.Request(
            f"{endpoint}/moto-api/config",
            data=json.dumps({"lambda": {"use_docker": False}}).encode(),
            method="POST",
            headers={"Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=10) as response:
            assert response.status in (200, 201)
        try:
            yield endpoint
        finally:
            server.stop()


@pytest.fixture
def aws_env(moto_endpoint: str, monkeypatch: pytest.MonkeyPatch) -> str:
    """For tests that run the CLI: point boto3 at moto through the environment."""
    for key, value in _FAKE_ENV.items():
        monkeypatch.setenv(key, value)
    monkeypatch.setenv("AWS_ENDPOINT_URL", moto_endpoint)
    return moto_endpoint


@pytest.fixture
def clients(moto_endpoint: str) -> AwsClients:
    return make_clients(region="us-east-1", endpoint_url=moto_endpoint)


@pytest.fixture(scope="session")
def role_arn(moto_endpoint: str) -> str:
    iam = boto3.client("iam", endpoint_url=moto_endpoint, region_name="us-east-1")
    arn: str = iam.create_role(RoleName="lambda-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    return arn


@pytest.fixture
def live_function(clients: AwsClients, role_arn: str) -> dict[str, Any]:
    """An image function with version 1 (release 1.0.0) behind alias ``live``."""
    name = f"api-{uuid.uuid4().hex[:8]}"
    clients.lambda_.create_function(
        FunctionName=name, Role=role_arn, PackageType="Image", Code={"ImageUri": digest_uri("a")}
    )
    version = clients.lambda_.publish_version(
        FunctionName=name, Description=ReleaseRecord(release="1.0.0").encode()
    )["Version"]
    clients.lambda_.create_alias(FunctionName=name, Name="live", FunctionVersion=version)
    return {"name": name, "version": version}


@pytest.fixture
def health() -> Iterator[HealthEndpoint]:
    with HealthEndpoint().running() as endpoint:
        yield endpoint


@pytest.fixture
def github(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeGitHub]:
    with FakeGitHub().running() as fake:
        monkeypatch.setenv("GITHUB_API_URL", fake.url)
        monkeypatch.setenv("GITHUB_TOKEN", fake.token)
        monkeypatch.setenv("GITHUB_REPOSITORY", fake.repository)
        monkeypatch.setenv("GITHUB_SERVER_URL", "https://github.com")
        monkeypatch.setenv("GITHUB_RUN_ID", "4242")
        yield fake


@pytest.fixture
def site(clients: AwsClients) -> dict[str, str]:
    """An S3 bucket and a CloudFront distribution whose origin is that bucket."""
    bucket = f"site-{uuid.uuid4().hex[:10]}"
    clients.s3.create_bucket(Bucket=bucket)
    answer = clients.cloudfront.create_distribution(
        DistributionConfig={
            "CallerReference": bucket,
            "Comment": "",
            "Enabled": True,
            "Origins": {
                "Quantity": 1,
                "Items": [
                    {
                        "Id": "site",
                        "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                        "OriginPath": "",
                        "S3OriginConfig": {"OriginAccessIdentity": ""},
                    }
                ],
            },
            "DefaultCacheBehavior": {
                "TargetOriginId": "site",
                "ViewerProtocolPolicy": "redirect-to-https",
                "MinTTL": 0,
                "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                "TrustedSigners": {"Enabled": False, "Quantity": 0},
            },
        }
    )
    return {"bucket": bucket, "distribution": answer["Distribution"]["Id"]}

"""boto3 client construction and error translation (the AWS boundary)."""

from __future__ import annotations

import contextlib
import functools
import os
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import boto3
import botocore.config
import botocore.exceptions
import botocore.session

from .errors import AwsError, NotFound

__all__ = ["AwsClients", "aws_call", "make_clients"]

_NOT_FOUND_CODES = frozenset(
    {
        "ResourceNotFoundException",
        "NoSuchKey",
        "NoSuchBucket",
        "NoSuchDistribution",
        "ResourceNotFound",
        "404",
        "NotFound",
    }
)


@dataclass(frozen=True, slots=True)
class AwsClients:
    """The boto3 clients the engine uses; typed ``Any`` because boto3 ships no stubs."""

    lambda_: Any
    s3: Any
    cloudfront: Any
    cloudwatch: Any


@functools.cache
def _shared_loader() -> Any:
    """The model loader of the process's first session (it honours AWS_DATA_PATH as botocore does)."""
    return botocore.session.get_session().get_component("data_loader")


def _botocore_session() -> botocore.session.Session:
    """A new botocore session (its own credentials, config and event handlers) sharing one model loader per
    process: the loader caches the service models it has read (botocore.loaders.instance_cache), so the JSON models
    (s3 and cloudfront are megabytes) are parsed once, not once per ``make_clients``."""
    session = botocore.session.get_session()
    session.register_component("data_loader", _shared_loader())
    return session


def make_clients(*, region: str | None = None, endpoint_url: str | None = None) -> AwsClients:
    """Build clients; ``endpoint_url`` (or ``AWS_ENDPOINT_URL``) points them at moto in tests."""
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    endpoint = endpoint_url or os.environ.get("AWS_ENDPOINT_URL") or None
    config = botocore.config.Config(retries={"max_attempts": 5, "mode": "standard"})
    session = boto3.session.Session(botocore_session=_botocore_session(), region_name=region)

    def client(name: str) -> Any:
        return session.client(name, endpoint_url=endpoint, config=config)

    return AwsClients(
        lambda_=client("lambda"),
        s3=client("s3"),
        cloudfront=client("cloudfront"),
        cloudwatch=client("cloudwatch"),
    )


@contextlib.contextmanager
def aws_call(what: str) -> Iterator[None]:
    """Translate botocore errors raised inside the block into release errors.

    ``what`` names the thing being done, e.g. ``"get function api"``.
    """
    try:
        yield
    except botocore.exceptions.ClientError as exc:
        error = exc.response.get("Error", {})
        code = str(error.get("Code", ""))
        message = str(error.get("Message", "")) or code
        if code in _NOT_FOUND_CODES:
            raise NotFound(f"{what}: not found ({message})") from exc
        raise AwsError(f"{what}: {code}: {message}", code=code) from exc
    except botocore.exceptions.WaiterError as exc:
        raise AwsError(f"{what}: gave up waiting ({exc.last_response.get('Error', {})})") from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise AwsError(f"{what}: {exc}") from exc

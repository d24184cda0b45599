"""The parts of a repository the rehearsal installs beside the workflows, and the AWS they deploy into.

- ``lay_out``: the project's examples as a team's repository holds them: ``web/`` (examples/web, the Next.js
  site), ``services/worker/`` and ``services/api/`` (examples/lambda/orders: the Lambda image
  ``.github/lambda-functions.json`` names, and the image api-ci packages, with its unit tests and hash-pinned
  ``requirements-dev.txt``) with their test events in ``.github/lambda-tests/<name>/``, and ``infra/`` (this
  repository's Terraform), so ``install-workflows`` installs every workflow and every job, as it does in such a
  repository.
- ``seed_worker`` / ``seed_web``: what exists in an environment's account before the first deploy (the worker's
  ECR repository, function and alarm; the site's bucket and CloudFront distribution), in moto's server.
- ``Edge``: the site's public URL (``SITE_URL``) on loopback, standing in for CloudFront's edge: it serves what
  the distribution's origin (the bucket and the origin path the release engine switched to) holds in moto's S3,
  so ``web-verify`` reads the build the distribution really points at.
"""

from __future__ import annotations

import json
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
WORKER = {"name": "worker", "function": "payments-worker", "repository": "payments-worker",
          "alarm": "payments-worker-{environment}-errors"}  # workflows/config/lambda-functions.json
_SKIP = shutil.ignore_patterns("node_modules", ".next", "out", "reports", ".terraform", "*.tfstate*", "__pycache__",
                               ".venv-checkov", ".terraform.lock.hcl.bak")


def lay_out(dest: Path) -> None:
    shutil.copytree(ROOT / "examples" / "web", dest / "web", ignore=_SKIP)
    for service in ("worker", "api"):  # both Lambda images: the example function (api-ci packages services/api)
        shutil.copytree(ROOT / "examples" / "lambda" / "orders", dest / "services" / service, ignore=_SKIP)
        shutil.copytree(ROOT / "examples" / "lambda" / ".github" / "lambda-tests" / "orders",
                        dest / ".github" / "lambda-tests" / service)
    shutil.copytree(ROOT / "infra", dest / "infra", ignore=_SKIP)


def seed_worker(account: Any, environment: str) -> None:
    ecr, lam, cw, iam = (account.client(n) for n in ("ecr", "lambda", "cloudwatch", "iam"))
    # scan on push, as the images job of security.yml expects (ECR basic scanning)
    ecr.create_repository(repositoryName=WORKER["repository"], imageScanningConfiguration={"scanOnPush": True})
    manifest = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.docker.distribution.manifest.v2+json",
                           "config": {"digest": "sha256:" + "0" * 64, "size": 1,
                                      "mediaType": "application/vnd.docker.container.image.v1+json"}, "layers": []})
    digest = ecr.put_image(repositoryName=WORKER["repository"], imageManifest=manifest,
                           imageTag="0.0.0")["image"]["imageId"]["imageDigest"]
    uri = ecr.describe_repositories(repositoryNames=[WORKER["repository"]])["repositories"][0]["repositoryUri"]
    role = iam.create_role(RoleName=f"{WORKER['function']}-exec", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    lam.create_function(FunctionName=WORKER["function"], Role=role, PackageType="Image",
                        Code={"ImageUri": f"{uri}@{digest}"}, Publish=False)
    from bot.actions.release import LambdaReleaser, ShiftPlan

    # a release from before the pipeline was installed: the alias exists and a rollback has somewhere to go
    LambdaReleaser(lam, sleep=lambda _: None).deploy(
        function=WORKER["function"], alias="live", image_uri=f"{uri}@{digest}", release="0.0.0",
        plan=ShiftPlan(steps=(100,), bake_seconds=0), health=lambda _: None)
    alarm = WORKER["alarm"].replace("{environment}", environment)
    cw.put_metric_alarm(AlarmName=alarm, MetricName="Errors", Namespace="AWS/Lambda", Statistic="Sum", Period=60,
                        EvaluationPeriods=1, Threshold=1, ComparisonOperator="GreaterThanThreshold")
    cw.set_alarm_state(AlarmName=alarm, StateValue="OK", StateReason="rehearsal")


def seed_web(account: Any, bucket: str) -> str:
    """The site's bucket and its distribution (origin: the bucket); returns the distribution id moto gave."""
    account.client("s3").create_bucket(Bucket=bucket)
    answer = account.client("cloudfront").create_distribution(DistributionConfig={
        "CallerReference": bucket, "Comment": "rehearsal", "Enabled": True,
        "Origins": {"Quantity": 1, "Items": [{"Id": "site", "DomainName": f"{bucket}.s3.us-east-1.amazonaws.com",
                                               "OriginPath": "", "S3OriginConfig": {"OriginAccessIdentity": ""}}]},
        "DefaultCacheBehavior": {"TargetOriginId": "site", "ViewerProtocolPolicy": "redirect-to-https", "MinTTL": 0,
                                 "ForwardedValues": {"QueryString": False, "Cookies": {"Forward": "none"}},
                                 "TrustedSigners": {"Enabled": False, "Quantity": 0}}})
    return str(answer["Distribution"]["Id"])


def publish_web_before(account: Any, bucket: str, distribution_id: str, workdir: Path) -> str:
    """A site release from before the pipeline was installed (so a web rollback has somewhere to go)."""
    from bot.actions.release import WebReleaser, make_clients

    site = workdir / "site-before"
    site.mkdir(parents=True, exist_ok=True)
    (site / "index.html").write_text("<!DOCTYPE html><html lang=\"en\"><title>site</title><p>before</p>")
    WebReleaser(make_clients(region="us-east-1", endpoint_url=account.endpoint), bucket=bucket,
                distribution_id=distribution_id).publish(source=site, release="0.9.0", build_id="before")
    return "0.9.0"


class Edge:
    """CloudFront's edge for one distribution, on loopback: GET /path -> the origin's object (index.html for a
    directory), 404 when the origin has none (CloudFront passes S3's answer through)."""

    def __init__(self, account: Any, distribution_id: str) -> None:
        cloudfront, s3 = account.client("cloudfront"), account.client("s3")

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                config = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]
                origin = config["Origins"]["Items"][0]
                bucket = origin["DomainName"].split(".s3.", 1)[0]
                path = self.path.split("?", 1)[0].lstrip("/")
                if not path or path.endswith("/"):
                    path += "index.html"
                key = "/".join(p for p in (origin.get("OriginPath", "").strip("/"), path) if p)
                try:
                    body = s3.get_object(Bucket=bucket, Key=key)["Body"].read()
                except s3.exceptions.NoSuchKey:
                    self.send_response(404)
                    self.end_headers()
                    return
                self.send_response(200)
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def web_state(account: Any, bucket: str, distribution_id: str) -> dict[str, Any]:
    """What the demo shows: the live release, how many objects the bucket holds, the invalidations made."""
    s3, cloudfront = account.client("s3"), account.client("cloudfront")
    origin = cloudfront.get_distribution_config(Id=distribution_id)["DistributionConfig"]["Origins"]["Items"][0]
    objects = s3.list_objects_v2(Bucket=bucket).get("KeyCount", 0)
    invalidations = cloudfront.list_invalidations(DistributionId=distribution_id)["InvalidationList"]
    return {"origin_path": origin.get("OriginPath", ""), "objects": objects,
            "invalidations": invalidations.get("Quantity", 0)}

"""The functions, images and alarms the workflows release are the ones Terraform lets their roles touch.

Sides: workflows/config/lambda-functions.json (build-and-deploy-lambda's matrix), release-services.json
(rollback.yml), the API_* variables github-environments sets for api-ci, and each environment's tfvars
(lambda_function_names, api_function_names, ecr_repository_names, api_ecr_repository_names, alarm_names: the
names github-oidc grants the deploy, build and security roles). Before this test the examples named `shop-*`
functions and repositories that no role could touch, and the worker's release had no health check at all, so the
engine refused it ("blue/green without a health check is blind").
"""

from __future__ import annotations

import json
from typing import Any

import pytest

from bot.contract import ENVIRONMENTS
from tests.infra import tfcheck

from . import workflow_model as wm

CONFIG = wm.ROOT / "workflows" / "config"


def _tfvars(env: str) -> dict[str, Any]:
    return tfcheck.load_file(wm.TFVARS / f"{env}.tfvars")


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_lambda_function_image_and_alarm_is_granted_in_that_environment(env: str) -> None:
    tfvars = _tfvars(env)
    functions = json.loads((CONFIG / "lambda-functions.json").read_text())
    assert functions, "lambda-functions.json lists no function"
    for f in functions:
        assert f["function"] in tfvars.get("lambda_function_names", []), (env, f["function"])
        assert f["repository"] in tfvars.get("ecr_repository_names", []), (env, f["repository"])
        alarm = str(f.get("alarm", "")).replace("{environment}", env)
        assert alarm, f"{f['name']}: a lambda release needs a health check (an alarm)"
        assert alarm in tfvars.get("alarm_names", []), (env, alarm)


@pytest.mark.parametrize("env", ENVIRONMENTS)
def test_every_rollback_target_is_granted_to_the_role_rollback_assumes(env: str) -> None:
    tfvars = _tfvars(env)
    granted = {"lambda": tfvars.get("lambda_function_names", []), "api": tfvars.get("api_function_names", [])}
    for name, service in json.loads((CONFIG / "release-services.json").read_text()).items():
        if service["kind"] == "lambda":
            function = service["function"].replace("{environment}", env)
            assert function in granted[service["role"]], (env, name, function, service["role"])
        else:
            assert service == {"kind": "web", "role": "web"}, name
            assert tfvars.get("web_bucket_name") and tfvars.get("cloudfront_distribution_id"), env


def test_the_api_release_reads_the_function_terraform_grants() -> None:
    # api-ci deploys vars.API_FUNCTION_NAME from vars.API_ECR_REPOSITORY; the example sets both from the tfvars
    text = (wm.EXAMPLE / "main.tf").read_text()
    assert "API_FUNCTION_NAME  = try(var.api_function_names[0], null)" in text
    assert "API_ECR_REPOSITORY = try(var.api_ecr_repository_names[0], null)" in text
    api = json.loads((CONFIG / "release-services.json").read_text())["api"]
    for env in ENVIRONMENTS:
        assert _tfvars(env)["api_function_names"][0] == api["function"], env

"""The local runner's expression evaluator follows GitHub's documented semantics."""

from __future__ import annotations

import pytest

from sandbox.expressions import ExpressionError, condition, evaluate, interpolate

CTX = {
    "inputs": {"environment": "", "request_id": "r-12345678", "role": "api"},
    "vars": {"AWS_API_DEPLOY_ROLE_ARN": "arn:api", "AWS_LAMBDA_DEPLOY_ROLE_ARN": "arn:lambda",
             "AWS_PLAN_ROLE_ARN_DEV": "arn:plan-dev"},
    "matrix": {"plan-role-variable": "AWS_PLAN_ROLE_ARN_DEV"},
    "steps": {"plan": {"outputs": {"steps": "10,50,100"}, "outcome": "success"}},
    "github": {"event_name": "push"},
}


@pytest.mark.parametrize(("expr", "expected"), [
    ("inputs.environment || 'dev'", "dev"),
    ("inputs.request_id || github.sha", "r-12345678"),
    ("inputs.role == 'api' && vars.AWS_API_DEPLOY_ROLE_ARN || vars.AWS_LAMBDA_DEPLOY_ROLE_ARN", "arn:api"),
    ("inputs.role == 'lambda' && vars.AWS_API_DEPLOY_ROLE_ARN || vars.AWS_LAMBDA_DEPLOY_ROLE_ARN", "arn:lambda"),
    ("vars[matrix.plan-role-variable]", "arn:plan-dev"),
    ("steps.plan.outputs.steps", "10,50,100"),
    ("steps.missing.outputs.x", None),
    ("github.event_name != 'pull_request'", True),
    ("'API' == 'api'", True),
    ("format('{0}-{1}', 'a', 1)", "a-1"),
    ("fromJSON('[1,2]')", [1, 2]),
    ("contains(fromJSON('[\"dev\",\"staging\"]'), 'staging')", True),
    ("!startsWith('refs/tags/v1', 'refs/heads/')", True),
])
def test_evaluate(expr: str, expected: object) -> None:
    assert evaluate(expr, CTX) == expected


def test_interpolation_keeps_types_for_a_whole_expression_and_formats_embedded_ones() -> None:
    assert interpolate("${{ fromJSON('[1]') }}", CTX) == [1]
    assert interpolate("release-${{ inputs.role }}-${{ inputs.environment || 'dev' }}", CTX) == "release-api-dev"


def test_conditions_imply_success_unless_a_status_function_is_named() -> None:
    failed = {"success": False, "failure": True, "always": True, "cancelled": False}.__getitem__
    assert condition("github.event_name == 'push'", CTX, failed) is False
    assert condition("failure() && steps.plan.outcome == 'success'", CTX, failed) is True
    assert condition(None, CTX, failed) is False


def test_unsupported_syntax_is_an_error_not_a_guess() -> None:
    with pytest.raises(ExpressionError):
        evaluate("hashFiles('x')", CTX)
    with pytest.raises(ExpressionError):
        evaluate("inputs.role ==", CTX)


def test_two_expressions_in_one_value_are_both_interpolated() -> None:
    assert interpolate("${{ inputs.role }} ${{ inputs.request_id }}", CTX) == "api r-12345678"

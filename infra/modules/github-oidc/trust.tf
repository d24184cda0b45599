# Trust policies: who may assume each role.
#
# The repository's OIDC subject template is customised (github-environments:
# github_actions_repository_oidc_subject_claim_customization_template, claim keys repo, context,
# job_workflow_ref), so GitHub issues (docs/oidc.md; https://docs.github.com/en/actions/reference/security/oidc
# "Customizing the subject claims for an organization or repository"):
#   repo:<owner>/<repo>:<context>:job_workflow_ref:<owner>/<repo>/.github/workflows/<file>@<ref>
# where <context> is "environment:<name>" for a job that names an environment (even on main, even when
# dispatched at a tag), else "pull_request" on pull requests and "ref:<ref>" otherwise, and <file> is the
# workflow the job is defined in (a reusable workflow's own file).
#
# Each role trusts only the workflows whose jobs assume it (bot/oidc_subjects.py, one source; tests/contract
# checks both sides): within one environment a build job cannot assume a deploy role. The sub is compared with
# StringLike because the ref of a release tag (refs/tags/v*) and of a pull request (refs/pull/<n>/merge) vary;
# the only wildcard is in that ref, after the literal workflow path. Which refs may name an environment at all
# is the environments' deployment policy (github-environments: main and v* tags).
# Only the plan role accepts pull_request; only the plan and security-scan roles accept a ref;
# every other role accepts exactly one environment.

locals {
  # the sub patterns of each trust document, read back from the documents themselves (output trusted_subjects);
  # flatten: the policy document renders a single value as a string
  trusted_subjects = {
    for name, doc in {
      infra_plan    = data.aws_iam_policy_document.trust_infra_plan.json
      infra_apply   = data.aws_iam_policy_document.trust_infra_apply.json
      build         = data.aws_iam_policy_document.trust_build.json
      lambda_deploy = data.aws_iam_policy_document.trust_lambda_deploy.json
      web_deploy    = data.aws_iam_policy_document.trust_web_deploy.json
      api_deploy    = data.aws_iam_policy_document.trust_api_deploy.json
      security_scan = data.aws_iam_policy_document.trust_security_scan.json
    } : name => flatten([jsondecode(doc).Statement[0].Condition.StringLike["token.actions.githubusercontent.com:sub"]])
  }
}

# Plans run on pull requests and on pushes to main, naming no environment. No environment subject:
# a job naming some environment must not get the state-reading role (defect 2). A pull request controls
# its own copy of infra-ci.yml, so the workflow pin does not bound what a PR runs: the role's permissions do
# (roles.tf: state objects and configuration reads only).
data "aws_iam_policy_document" "trust_infra_plan" {
  statement {
    sid     = "GitHubActionsInfraPlan"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:pull_request:job_workflow_ref:${var.github_repository}/.github/workflows/infra-ci.yml@refs/pull/*/merge",
        "repo:${var.github_repository}:ref:refs/heads/main:job_workflow_ref:${var.github_repository}/.github/workflows/infra-ci.yml@refs/heads/main",
      ]
    }
  }
}

data "aws_iam_policy_document" "trust_infra_apply" {
  statement {
    sid     = "GitHubActionsInfraApply"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:environment:${var.apply_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/infra-ci.yml@refs/heads/main",
      ]
    }
  }
}

# Image builds name the target environment (its ECR lives in this account).
data "aws_iam_policy_document" "trust_build" {
  statement {
    sid     = "GitHubActionsBuild"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/api-ci.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/api-ci.yml@refs/tags/v*",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/build-and-deploy-lambda.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/build-and-deploy-lambda.yml@refs/tags/v*",
      ]
    }
  }
}

data "aws_iam_policy_document" "trust_lambda_deploy" {
  statement {
    sid     = "GitHubActionsLambdaDeploy"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/lambda-release.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/lambda-release.yml@refs/tags/v*",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/tags/v*",
      ]
    }
  }
}

data "aws_iam_policy_document" "trust_web_deploy" {
  statement {
    sid     = "GitHubActionsWebDeploy"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/web-ci.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/web-ci.yml@refs/tags/v*",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/tags/v*",
      ]
    }
  }
}

data "aws_iam_policy_document" "trust_api_deploy" {
  statement {
    sid     = "GitHubActionsApiDeploy"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/lambda-release.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/lambda-release.yml@refs/tags/v*",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/heads/main",
        "repo:${var.github_repository}:environment:${var.deploy_environment}:job_workflow_ref:${var.github_repository}/.github/workflows/rollback.yml@refs/tags/v*",
      ]
    }
  }
}

# ECR scans run on pushes to main and on the schedule (default branch), naming no environment.
data "aws_iam_policy_document" "trust_security_scan" {
  statement {
    sid     = "GitHubActionsSecurityScan"
    effect  = "Allow"
    actions = ["sts:AssumeRoleWithWebIdentity"]

    principals {
      type        = "Federated"
      identifiers = [local.oidc_provider_arn]
    }

    condition {
      test     = "StringEquals"
      variable = "token.actions.githubusercontent.com:aud"
      values   = ["sts.amazonaws.com"]
    }

    condition {
      test     = "StringLike"
      variable = "token.actions.githubusercontent.com:sub"
      values = [
        "repo:${var.github_repository}:ref:refs/heads/main:job_workflow_ref:${var.github_repository}/.github/workflows/security.yml@refs/heads/main",
      ]
    }
  }
}

# GitHub environments (dev, staging, production), their protection and deployment policies (branches and
# tags), every Actions variable the workflows read that Terraform knows, release tag protection, and branch
# protection on main.
#
# The environment name is what GitHub writes into the OIDC `sub` claim
# ("repo:<owner>/<repo>:environment:<name>"); the github-oidc module's roles trust
# exactly those names, so the protection configured here is what guards AWS.

locals {
  # One name per role (bot/contract.py JOB_KINDS, checked by tests/contract): GitHub variable => role kind suffix.
  # Environment-scoped: the job names the environment, so its OIDC subject is environment:<env>.
  environment_role_variables = {
    AWS_BUILD_ROLE_ARN         = "build"
    AWS_LAMBDA_DEPLOY_ROLE_ARN = "lambda-deploy"
    AWS_API_DEPLOY_ROLE_ARN    = "api-deploy"
    AWS_WEB_DEPLOY_ROLE_ARN    = "web-deploy"
    AWS_APPLY_ROLE_ARN         = "infra-apply"
  }
  # Repository-scoped, one per environment account: AWS_PLAN_ROLE_ARN_<ENV> (plan jobs name no environment).
  plan_role_variable_prefix = "AWS_PLAN_ROLE_ARN_"
  plan_role_suffix          = "infra-plan"

  # The environment's deploy targets: GitHub environment variable => field of var.environments.
  environment_target_variables = {
    API_URL             = "api_url"
    API_HEALTH_URL      = "api_health_url"
    API_ALARM_NAME      = "api_alarm_name"
    WEB_BUCKET          = "web_bucket_name"
    WEB_DISTRIBUTION_ID = "cloudfront_distribution_id"
    SITE_URL            = "site_url"
  }

  role_arn = {
    for env, cfg in var.environments : env => {
      for suffix in distinct(concat(values(local.environment_role_variables), [local.plan_role_suffix])) :
      suffix => "arn:${var.aws_partition}:iam::${cfg.aws_account_id}:role/${var.role_name_prefix}-${env}-github-${suffix}"
    }
  }

  environment_values = {
    for env, cfg in var.environments : env => merge(
      cfg.variables,
      { for name, field in local.environment_target_variables : name => lookup(cfg, field, null) if lookup(cfg, field, null) != null },
      { for name, suffix in local.environment_role_variables : name => local.role_arn[env][suffix] },
    )
  }

  environment_variables = merge([
    for env, values in local.environment_values : {
      for name, value in values : "${env}/${name}" => { environment = env, name = name, value = value }
    }
  ]...)

  repository_values = merge(
    var.repository_variables,
    { AWS_REGION = var.aws_region },
    { for env, _ in var.environments : "${local.plan_role_variable_prefix}${upper(replace(env, "-", "_"))}" => local.role_arn[env][local.plan_role_suffix] },
    var.security_role_arn == null ? {} : { AWS_SECURITY_ROLE_ARN = var.security_role_arn },
  )

  deployment_policies = merge(
    merge([
      for env, cfg in var.environments : {
        for pattern in cfg.branch_patterns : "${env}/branch/${pattern}" => { environment = env, branch = pattern, tag = null }
      }
    ]...),
    merge([
      for env, cfg in var.environments : {
        for pattern in cfg.tag_patterns : "${env}/tag/${pattern}" => { environment = env, branch = null, tag = pattern }
      }
    ]...),
  )

  # No released integrations/github provider manages custom deployment protection rules (the resource exists
  # only in an unmerged pull request; tests/infra/test_provider_schema.py checks every type against the pinned
  # provider's schema). `chatops-bot setup-github` enables the rule on these environments through the REST API
  # (docs/environments.md); this module only names them.
  protection_rule_environments = var.chatops_app_id == null ? {} : {
    for env, cfg in var.environments : env => cfg if cfg.use_protection_rule
  }
}

check "protection_rule_needs_app" {
  assert {
    condition     = var.chatops_app_id != null || alltrue([for _, e in var.environments : !e.use_protection_rule])
    error_message = "use_protection_rule is set on an environment but chatops_app_id is null: that environment has no bot gate."
  }
}

resource "github_repository_environment" "this" {
  for_each = var.environments

  repository          = var.repository
  environment         = each.key
  wait_timer          = each.value.wait_timer
  prevent_self_review = each.value.prevent_self_review
  can_admins_bypass   = each.value.can_admins_bypass

  dynamic "reviewers" {
    for_each = length(each.value.reviewer_user_ids) + length(each.value.reviewer_team_ids) > 0 ? [1] : []
    content {
      users = each.value.reviewer_user_ids
      teams = each.value.reviewer_team_ids
    }
  }

  deployment_branch_policy {
    protected_branches     = false
    custom_branch_policies = true
  }
}

# The repository's OIDC subject template: repo, context and job_workflow_ref, so every token names the workflow
# file its job is defined in, e.g. "repo:acme/payments:environment:production:job_workflow_ref:acme/payments/
# .github/workflows/web-ci.yml@refs/heads/main" (https://docs.github.com/en/actions/reference/security/oidc,
# "Customizing the subject claims for an organization or repository"). The github-oidc roles trust exactly these
# subjects, each only for its own workflows (bot/oidc_subjects.py OIDC_CLAIM_KEYS; tests/contract checks both).
# Applying this changes the subject of every workflow of the repository: apply the github-oidc roles first.
resource "github_actions_repository_oidc_subject_claim_customization_template" "this" {
  repository         = var.repository
  use_default        = false
  include_claim_keys = ["repo", "context", "job_workflow_ref"]
}

# Which refs may deploy: branches (e.g. main) and tags (e.g. v*, so `/deploy api v1.4.2 to production` runs).
resource "github_repository_environment_deployment_policy" "this" {
  for_each = local.deployment_policies

  repository     = var.repository
  environment    = github_repository_environment.this[each.value.environment].environment
  branch_pattern = each.value.branch
  tag_pattern    = each.value.tag
}

# Tags reach environments, so only the bypass actors may create, move or delete them.
resource "github_repository_ruleset" "release_tags" {
  count = length(var.release_tag_patterns) > 0 ? 1 : 0

  name        = "release tags"
  repository  = var.repository
  target      = "tag"
  enforcement = "active"

  conditions {
    ref_name {
      include = [for pattern in var.release_tag_patterns : "refs/tags/${pattern}"]
      exclude = []
    }
  }

  dynamic "bypass_actors" {
    for_each = var.release_tag_bypass_actors
    content {
      actor_id    = bypass_actors.value.actor_id
      actor_type  = bypass_actors.value.actor_type
      bypass_mode = bypass_actors.value.bypass_mode
    }
  }

  rules {
    creation         = true
    update           = true
    deletion         = true
    non_fast_forward = true
  }
}

resource "github_actions_environment_variable" "this" {
  for_each = local.environment_variables

  repository    = var.repository
  environment   = github_repository_environment.this[each.value.environment].environment
  variable_name = each.value.name
  value         = each.value.value
}

resource "github_actions_variable" "this" {
  for_each = local.repository_values

  repository    = var.repository
  variable_name = each.key
  value         = each.value
}

resource "github_branch_protection" "main" {
  count = var.protect_main ? 1 : 0

  repository_id                   = var.repository
  pattern                         = "main"
  enforce_admins                  = true
  require_signed_commits          = var.require_signed_commits
  required_linear_history         = true
  require_conversation_resolution = true
  allows_deletions                = false
  allows_force_pushes             = false

  required_status_checks {
    strict   = true
    contexts = var.required_status_checks
  }

  required_pull_request_reviews {
    dismiss_stale_reviews           = true
    require_code_owner_reviews      = var.require_code_owner_reviews
    required_approving_review_count = var.required_approving_review_count
    require_last_push_approval      = true
  }
}

# GitHub environments (dev, staging, production, plus the plan environment),
# their protection, their Actions variables, and branch protection on main.
#
# The environment name is what GitHub writes into the OIDC `sub` claim
# ("repo:<owner>/<repo>:environment:<name>"); the github-oidc module's roles trust
# exactly those names, so the protection configured here is what guards AWS.

locals {
  environment_variables = merge([
    for env, cfg in var.environments : {
      for name, value in cfg.variables : "${env}/${name}" => { environment = env, name = name, value = value }
    }
  ]...)

  branch_policies = merge([
    for env, cfg in var.environments : {
      for pattern in cfg.branch_patterns : "${env}/${pattern}" => { environment = env, pattern = pattern }
    }
  ]...)

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

resource "github_repository_environment_deployment_policy" "this" {
  for_each = local.branch_policies

  repository     = var.repository
  environment    = github_repository_environment.this[each.value.environment].environment
  branch_pattern = each.value.pattern
}

resource "github_repository_environment_custom_protection_rule" "chatops" {
  for_each = local.protection_rule_environments

  repository     = var.repository
  environment    = github_repository_environment.this[each.key].environment
  integration_id = var.chatops_app_id
}

resource "github_actions_environment_variable" "this" {
  for_each = local.environment_variables

  repository    = var.repository
  environment   = github_repository_environment.this[each.value.environment].environment
  variable_name = each.value.name
  value         = each.value.value
}

# Plan environment: no reviewers and no branch restriction, so pull-request jobs can
# run `terraform plan` with the read-only role. It grants nothing else.
resource "github_repository_environment" "plan" {
  count = var.plan_environment == null ? 0 : 1

  repository          = var.repository
  environment         = var.plan_environment
  can_admins_bypass   = false
  prevent_self_review = false
}

resource "github_actions_environment_variable" "plan" {
  for_each = var.plan_environment == null ? {} : var.plan_environment_variables

  repository    = var.repository
  environment   = github_repository_environment.plan[0].environment
  variable_name = each.key
  value         = each.value
}

resource "github_actions_variable" "this" {
  for_each = var.repository_variables

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

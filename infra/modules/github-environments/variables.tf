variable "repository" {
  description = "Name of the repository (without owner; the provider's `owner` selects the organization) that holds the workflows."
  type        = string

  validation {
    condition     = can(regex("^[A-Za-z0-9_.-]{1,100}$", var.repository))
    error_message = "repository must be a repository name (letters, digits, '.', '_', '-')."
  }
}

variable "environments" {
  description = <<-EOT
    Deployment environments keyed by name. For each:
      wait_timer           minutes to wait before a job may start (0-43200);
      reviewer_user_ids    GitHub user ids (numbers) who may approve (max 6 users + teams);
      reviewer_team_ids    GitHub team ids (numbers) who may approve;
      prevent_self_review  the person who triggered the run cannot approve it;
      can_admins_bypass    repository admins may skip the protection;
      branch_patterns      only these branches may deploy (fnmatch patterns, e.g. "main", "release/*");
      use_protection_rule  gate deployments on the chatops bot's custom deployment protection rule
                           (needs chatops_app_id);
      variables            GitHub Actions variables of the environment (e.g. AWS_DEPLOY_ROLE_ARN).
  EOT
  type = map(object({
    wait_timer          = optional(number, 0)
    reviewer_user_ids   = optional(list(number), [])
    reviewer_team_ids   = optional(list(number), [])
    prevent_self_review = optional(bool, true)
    can_admins_bypass   = optional(bool, false)
    branch_patterns     = optional(list(string), ["main"])
    use_protection_rule = optional(bool, false)
    variables           = optional(map(string), {})
  }))
  default = {
    dev = {
      branch_patterns = ["main"]
    }
    staging = {
      branch_patterns = ["main"]
    }
    production = {
      wait_timer          = 5
      branch_patterns     = ["main"]
      use_protection_rule = true
    }
  }

  validation {
    condition     = alltrue([for name, _ in var.environments : can(regex("^[A-Za-z0-9_.-]{1,255}$", name))])
    error_message = "Environment names must be literal names (letters, digits, '.', '_', '-'), because they are pasted into OIDC subjects."
  }

  validation {
    condition     = alltrue([for _, e in var.environments : e.wait_timer >= 0 && e.wait_timer <= 43200])
    error_message = "wait_timer must be between 0 and 43200 minutes."
  }

  validation {
    condition     = alltrue([for _, e in var.environments : length(e.reviewer_user_ids) + length(e.reviewer_team_ids) <= 6])
    error_message = "GitHub allows at most 6 required reviewers (users + teams) per environment."
  }

  validation {
    condition     = alltrue([for _, e in var.environments : length(e.branch_patterns) > 0])
    error_message = "Every environment needs at least one deployment branch pattern."
  }

  validation {
    condition = !contains(keys(var.environments), "production") || (
      length(try(var.environments["production"].reviewer_user_ids, [])) +
      length(try(var.environments["production"].reviewer_team_ids, [])) > 0 ||
      try(var.environments["production"].use_protection_rule, false)
    )
    error_message = "production must require reviewers or the chatops bot's protection rule."
  }
}

variable "plan_environment" {
  description = "Reviewer-free environment whose jobs may assume the read-only infra plan role from any branch (pull-request plans); null to not create it. Must match plan_environment of the github-oidc module."
  type        = string
  default     = "infra-plan"

  validation {
    condition     = var.plan_environment == null || can(regex("^[A-Za-z0-9_.-]{1,255}$", var.plan_environment))
    error_message = "plan_environment must be a literal environment name."
  }
}

variable "plan_environment_variables" {
  description = "GitHub Actions variables of the plan environment (e.g. AWS_PLAN_ROLE_ARN)."
  type        = map(string)
  default     = {}
}

variable "chatops_app_id" {
  description = "App ID of the chatops GitHub App (its integration id), used as custom deployment protection rule on environments with use_protection_rule. null: no custom rule."
  type        = number
  default     = null
}

variable "repository_variables" {
  description = "Repository-level GitHub Actions variables (e.g. AWS_REGION, CHATOPS_URL). Never put secrets here; see docs/secrets-and-variables.md."
  type        = map(string)
  default     = {}

  validation {
    condition     = alltrue([for k, _ in var.repository_variables : can(regex("^[A-Z][A-Z0-9_]*$", k)) && !startswith(k, "GITHUB_")])
    error_message = "Variable names must be upper-case and must not start with GITHUB_."
  }
}

variable "protect_main" {
  description = "Manage branch protection on main."
  type        = bool
  default     = true
}

variable "required_status_checks" {
  description = "Status check names (job names as GitHub reports them) that must pass before a pull request merges into main, e.g. the jobs of infra-ci.yml, web-ci.yml, api-ci.yml and security.yml."
  type        = list(string)

  validation {
    condition     = length(var.required_status_checks) > 0
    error_message = "List at least one required status check; a protected main without checks gates nothing."
  }
}

variable "required_approving_review_count" {
  description = "Approvals a pull request into main needs (1-6). Two by default (checkov CKV_GIT_5), so one compromised reviewer account cannot approve a change alone."
  type        = number
  default     = 2

  validation {
    condition     = var.required_approving_review_count >= 1 && var.required_approving_review_count <= 6
    error_message = "required_approving_review_count must be between 1 and 6."
  }
}

variable "require_code_owner_reviews" {
  description = "Require an approval from a CODEOWNERS owner of the changed files."
  type        = bool
  default     = true
}

variable "require_signed_commits" {
  description = "Require signed commits on main."
  type        = bool
  default     = true
}

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
      aws_account_id       the environment's own AWS account (12 digits); the module sets the environment's role
                           variables (AWS_BUILD_ROLE_ARN, AWS_LAMBDA_DEPLOY_ROLE_ARN, AWS_API_DEPLOY_ROLE_ARN,
                           AWS_WEB_DEPLOY_ROLE_ARN, AWS_APPLY_ROLE_ARN) and the repository variable
                           AWS_PLAN_ROLE_ARN_<ENV> from it and the naming rule <role_name_prefix>-<env>-github-<kind>;
      wait_timer           minutes to wait before a job may start (0-43200);
      reviewer_user_ids    GitHub user ids (numbers) who may approve (max 6 users + teams);
      reviewer_team_ids    GitHub team ids (numbers) who may approve;
      prevent_self_review  the person who triggered the run cannot approve it;
      can_admins_bypass    repository admins may skip the protection;
      branch_patterns      only these branches may deploy (fnmatch patterns, e.g. "main", "release/*");
      tag_patterns         and these tags (e.g. "v*": `/deploy api v1.4.2 to production` runs at the tag);
      use_protection_rule  gate deployments on the chatops bot's custom deployment protection rule
                           (needs chatops_app_id);
      api_url, api_health_url, api_alarm_name, web_bucket_name, cloudfront_distribution_id, site_url
                           the environment's deploy targets, set as the environment variables API_URL,
                           API_HEALTH_URL, API_ALARM_NAME, WEB_BUCKET, WEB_DISTRIBUTION_ID, SITE_URL (null: not set);
      variables            other GitHub Actions variables of the environment (never role ARNs: those are computed).
  EOT
  type = map(object({
    aws_account_id             = string
    wait_timer                 = optional(number, 0)
    reviewer_user_ids          = optional(list(number), [])
    reviewer_team_ids          = optional(list(number), [])
    prevent_self_review        = optional(bool, true)
    can_admins_bypass          = optional(bool, false)
    branch_patterns            = optional(list(string), ["main"])
    tag_patterns               = optional(list(string), ["v*"])
    use_protection_rule        = optional(bool, false)
    api_url                    = optional(string)
    api_health_url             = optional(string)
    api_alarm_name             = optional(string)
    web_bucket_name            = optional(string)
    cloudfront_distribution_id = optional(string)
    site_url                   = optional(string)
    variables                  = optional(map(string), {})
  }))

  validation {
    condition     = alltrue([for name, _ in var.environments : can(regex("^[A-Za-z0-9_.-]{1,255}$", name))])
    error_message = "Environment names must be literal names (letters, digits, '.', '_', '-'), because they are pasted into OIDC subjects."
  }

  validation {
    condition     = alltrue([for _, e in var.environments : can(regex("^[0-9]{12}$", e.aws_account_id))])
    error_message = "aws_account_id must be a 12-digit AWS account id."
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
    condition     = alltrue([for _, e in var.environments : length(e.branch_patterns) + length(e.tag_patterns) > 0])
    error_message = "Every environment needs at least one deployment branch or tag pattern."
  }

  validation {
    condition     = alltrue([for _, e in var.environments : alltrue([for name, _ in e.variables : !can(regex("ROLE_ARN", name))])])
    error_message = "Role ARN variables are computed from aws_account_id; do not set them in variables."
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

variable "role_name_prefix" {
  description = "Roles are named <role_name_prefix>-<environment>-github-<kind> (infra/examples/complete gives github-oidc the name_prefix \"chatops-<env>\")."
  type        = string
  default     = "chatops"

  validation {
    condition     = can(regex("^[A-Za-z0-9+=,.@_-]{1,32}$", var.role_name_prefix))
    error_message = "role_name_prefix must be an IAM role name prefix (letters, digits, +=,.@_-)."
  }
}

variable "aws_partition" {
  description = "AWS partition of the role ARNs (aws, aws-us-gov, aws-cn)."
  type        = string
  default     = "aws"

  validation {
    condition     = contains(["aws", "aws-us-gov", "aws-cn"], var.aws_partition)
    error_message = "aws_partition must be aws, aws-us-gov or aws-cn."
  }
}

variable "aws_region" {
  description = "Region of the deploy targets, set as the repository variable AWS_REGION."
  type        = string

  validation {
    condition     = can(regex("^[a-z]{2}(-gov)?-[a-z]+-[0-9]$", var.aws_region))
    error_message = "aws_region must be an AWS region name such as us-east-1."
  }
}

variable "security_role_arn" {
  description = "ARN of the read-only ECR scan role (production's github-oidc output), set as the repository variable AWS_SECURITY_ROLE_ARN; null: not set."
  type        = string
  default     = null
}

variable "release_tag_patterns" {
  description = "Tags protected by a ruleset (only bypass actors may create, move or delete them), because they may deploy. Keep it the union of the environments' tag_patterns."
  type        = list(string)
  default     = ["v*"]
}

variable "release_tag_bypass_actors" {
  description = "Who may create, move and delete protected release tags: actor_type RepositoryRole (actor_id 5 = admin, 2 = maintain), Team, or Integration (a GitHub App id, e.g. your release automation)."
  type = list(object({
    actor_id    = number
    actor_type  = string
    bypass_mode = optional(string, "always")
  }))
  default = [{ actor_id = 5, actor_type = "RepositoryRole" }]
}

variable "chatops_app_id" {
  description = "App ID of the chatops GitHub App (its integration id), used as custom deployment protection rule on environments with use_protection_rule. null: no custom rule."
  type        = number
  default     = null
}

variable "repository_variables" {
  description = "Other repository-level GitHub Actions variables (e.g. API_FUNCTION_NAME, CHATOPS_URL; AWS_REGION and the role ARNs are computed). Never put secrets here; see docs/secrets-and-variables.md."
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

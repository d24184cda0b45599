# EventBridge rules for the bot's CloudTrail detections, on the default event bus.
#
# CloudTrail delivers management events to EventBridge in the region where the call
# was recorded. Global services (IAM, the console sign-in, STS's global endpoint,
# CloudFront) record in us-east-1, so this module must run in us-east-1 for
# console-login-failure and for IAM/root activity; regional events (EC2, Lambda,
# regional STS, CloudTrail itself) need the module in each region you use.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  read_only_state = var.include_read_only_events ? "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" : "ENABLED"

  all_detections = {
    # Any API call refused for lack of permission. EC2 reports UnauthorizedOperation
    # ("Client.UnauthorizedOperation" in CloudTrail), most services AccessDenied or
    # AccessDeniedException.
    "access-denied" = {
      description = "API calls refused with AccessDenied or UnauthorizedOperation"
      state       = local.read_only_state
      pattern = jsonencode({
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          errorCode = ["AccessDenied", "AccessDeniedException", "UnauthorizedOperation", "Client.UnauthorizedOperation"]
        }
      })
    }

    # Failed console sign-ins (wrong password, MFA failure). us-east-1 for most accounts.
    "console-login-failure" = {
      description = "Failed AWS console sign-ins"
      state       = "ENABLED"
      pattern = jsonencode({
        source        = ["aws.signin"]
        "detail-type" = ["AWS Console Sign In via CloudTrail"]
        detail = {
          eventName        = ["ConsoleLogin"]
          responseElements = { ConsoleLogin = ["Failure"] }
        }
      })
    }

    # Anything the root user does, API or console.
    "root-usage" = {
      description = "Any activity of the account root user"
      state       = local.read_only_state
      pattern = jsonencode({
        "detail-type" = ["AWS API Call via CloudTrail", "AWS Console Sign In via CloudTrail"]
        detail = {
          userIdentity = { type = ["Root"] }
        }
      })
    }

    # A workflow (or anyone) presenting a web identity token that a role refused:
    # wrong sub/aud, missing OIDC provider. The bot explains the subject trap.
    # AssumeRoleWithWebIdentity is a read-only management event, hence the state.
    "oidc-assume-failure" = {
      description = "Refused sts:AssumeRoleWithWebIdentity calls (GitHub OIDC trust failures)"
      state       = "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
      pattern = jsonencode({
        source        = ["aws.sts"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["sts.amazonaws.com"]
          eventName   = ["AssumeRoleWithWebIdentity"]
          errorCode   = [{ exists = true }]
        }
      })
    }

    # Attempts to blind CloudTrail.
    "cloudtrail-tampering" = {
      description = "CloudTrail StopLogging, DeleteTrail, UpdateTrail or PutEventSelectors"
      state       = "ENABLED"
      pattern = jsonencode({
        source        = ["aws.cloudtrail"]
        "detail-type" = ["AWS API Call via CloudTrail"]
        detail = {
          eventSource = ["cloudtrail.amazonaws.com"]
          eventName   = ["StopLogging", "DeleteTrail", "UpdateTrail", "PutEventSelectors"]
        }
      })
    }
  }

  detections = { for name in var.detections : name => local.all_detections[name] }
  rule_arns  = [for rule in aws_cloudwatch_event_rule.detection : rule.arn]

  global_detections = ["console-login-failure", "root-usage"]
}

check "global_detections_in_us_east_1" {
  assert {
    condition     = local.region == "us-east-1" || length(setintersection(var.detections, local.global_detections)) == 0
    error_message = "console-login-failure and root-usage need the rules in us-east-1, where global-service events are delivered; this provider is in another region."
  }
}

resource "aws_cloudwatch_event_rule" "detection" {
  for_each = local.detections

  name          = "${var.name_prefix}-${each.key}"
  description   = "chatops: ${each.value.description}"
  event_pattern = each.value.pattern
  state         = each.value.state
  tags          = var.tags
}

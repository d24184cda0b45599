# EventBridge rules for the bot's CloudTrail detections, on the default event bus.
#
# CloudTrail delivers management events to EventBridge in the region where the call
# was recorded. Global services (IAM, the console sign-in, STS's global endpoint,
# CloudFront) record in us-east-1, so this module must run in us-east-1 for
# console sign-ins and for IAM/root activity; regional events (EC2, Lambda,
# regional STS, CloudTrail itself) need the module in each region you use.

data "aws_caller_identity" "current" {}
data "aws_partition" "current" {}
data "aws_region" "current" {}

locals {
  account_id = data.aws_caller_identity.current.account_id
  partition  = data.aws_partition.current.partition
  region     = data.aws_region.current.name

  read_only_state = var.include_read_only_events ? "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS" : "ENABLED"

  # One EventBridge rule per bot detection rule, generated from bot/alerts/rules.yml by
  # `python -m bot.alerts.patterns --write` (tests/infra/test_patterns.py checks the file is current).
  # read_only_events: "required" (the rule is about a read-only call, e.g. AssumeRoleWithWebIdentity),
  # "optional" (follows include_read_only_events) or "never" (the rule excludes read-only calls).
  generated = jsondecode(file("${path.module}/patterns.json"))
  all_detections = {
    for id, d in local.generated : id => {
      description = d.description
      pattern     = jsonencode(d.pattern)
      state = (d.read_only_events == "required" ? "ENABLED_WITH_ALL_CLOUDTRAIL_MANAGEMENT_EVENTS"
      : d.read_only_events == "never" ? "ENABLED" : local.read_only_state)
    }
  }

  detections = { for name in(var.detections != null ? var.detections : keys(local.all_detections)) : name => local.all_detections[name] }
  rule_arns  = [for rule in aws_cloudwatch_event_rule.detection : rule.arn]

  # events of global services (IAM, console sign-in) are delivered in us-east-1 only
  global_detections = ["console-login-failed", "console-login-without-mfa", "root-activity", "iam-persistence"]
}

check "global_detections_in_us_east_1" {
  assert {
    condition     = local.region == "us-east-1" || length(setintersection(keys(local.detections), local.global_detections)) == 0
    error_message = "console-login-failed, console-login-without-mfa, root-activity and iam-persistence need the rules in us-east-1, where global-service events are delivered; this provider is in another region."
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

"""Prometheus metrics (text exposition at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("chatops_http_requests_total", "Inbound HTTP requests", ["route", "status"])
ACKS = Histogram("chatops_slack_ack_seconds", "Time to answer a Slack request",
                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3))
DISPATCHES = Counter("chatops_dispatches_total", "Workflow dispatches", ["result"])
DELIVERIES = Counter("chatops_outbox_deliveries_total", "Outbox delivery attempts", ["platform", "result"])
# issue 27 item 2: card slots held for a webhook of the card's run being applied (bot.delivery.pending)
CARD_HOLDS = Counter("chatops_outbox_card_holds_total",
                     "Card slots the outbox held for a webhook of the card's run that was acked and not yet applied",
                     ["result"])  # applied | timeout
CARD_HELD = Counter("chatops_outbox_card_held_seconds_total", "Time card slots were held (see card_holds)")
OUTBOX_DEPTH = Gauge("chatops_outbox_depth", "Outbox messages by state", ["state"])
# issue 24: chat outages (what waits to be delivered) and what the network dropped (reconcile, redeliver)
OUTBOX_BACKLOG = Gauge("chatops_outbox_backlog", "Outbox messages waiting to be delivered")
OUTBOX_OLDEST = Gauge("chatops_outbox_oldest_age_seconds", "Age of the oldest message waiting in the outbox")
RECONCILED = Counter("chatops_github_reconciled_total",
                     "Waiting requests whose run was read through the API (no webhook for github.reconcile_after)",
                     ["result"])
REDELIVERIES = Counter("chatops_github_redeliveries_total",
                       "Failed GitHub App hook deliveries the bot asked GitHub to redeliver", ["result"])
RUNS_NOT_BOUND = Counter("chatops_github_runs_not_bound_total",
                         "Runs naming a request that were not bound to it (not the bot's own dispatch)", ["reason"])
CROSS_REPOSITORY = Counter("chatops_github_cross_repository_ignored_total",
                           "Webhook references to another repository's runs, requests or services, ignored")
IGNORED = Counter("chatops_ignored_total", "Inbound items accepted but ignored", ["source", "reason"])
# issue 22 item 6: every signed GitHub event gets 2xx; those not acted on are counted per event name (a name GitHub
# does not document is counted as "other": the X-GitHub-Event header is not signed)
GITHUB_IGNORED = Counter("chatops_github_events_ignored_total", "Signed GitHub webhooks answered 2xx, not acted on",
                         ["event", "reason"])

# Issue 16: delivery figures (DORA). Observed once per finished run (bot.deploys.delivery_metrics.record_outcome);
# outcome is success | failure | cancelled for deploys and "rollback" for rollback runs.
_DELIVERY_BUCKETS = (300, 900, 1800, 3600, 7200, 14400, 28800, 43200, 86400, 172800, 259200, 604800, 1209600,
                     2592000)
DEPLOYMENTS = Counter("chatops_deployments_total", "Finished deployment runs", ["service", "environment", "outcome"])
LEAD_TIME = Histogram("chatops_deploy_lead_time_seconds",
                      "Oldest commit in the deployed range -> deployment success", ["service", "environment"],
                      buckets=_DELIVERY_BUCKETS)
TIME_TO_RESTORE = Histogram("chatops_time_to_restore_seconds",
                            "Failed deployment or rollback -> next successful deployment", ["service", "environment"],
                            buckets=_DELIVERY_BUCKETS)
APPROVAL_WAIT = Histogram("chatops_approval_wait_seconds", "Request -> the approval that let it go",
                          ["service", "environment"],
                          buckets=(60, 300, 900, 1800, 3600, 7200, 14400, 28800, 86400, 172800))

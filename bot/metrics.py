"""Prometheus metrics (text exposition at GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("chatops_http_requests_total", "Inbound HTTP requests", ["route", "status"])
ACKS = Histogram("chatops_slack_ack_seconds", "Time to answer a Slack request",
                 buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 3))
DISPATCHES = Counter("chatops_dispatches_total", "Workflow dispatches", ["result"])
DELIVERIES = Counter("chatops_outbox_deliveries_total", "Outbox delivery attempts", ["platform", "result"])
OUTBOX_DEPTH = Gauge("chatops_outbox_depth", "Outbox messages by state", ["state"])
IGNORED = Counter("chatops_ignored_total", "Inbound items accepted but ignored", ["source", "reason"])

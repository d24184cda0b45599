-- Issue 25 item 5: escalation of unacknowledged high/critical security alerts, and PagerDuty Events API v2.
-- escalated_at: when the alert was re-posted with a channel mention (NULL = not escalated). One conditional
-- UPDATE ... WHERE escalated_at IS NULL wins, so an alert escalates once whatever the number of replicas.
ALTER TABLE security_alerts ADD COLUMN escalated_at DOUBLE PRECISION;
CREATE INDEX security_alerts_escalation ON security_alerts (state, escalated_at, created_at);

-- PagerDuty events to send (bot/security/pagerduty.py), written in the transaction that escalates or resolves
-- the alert. key = pd:<alert id>:<action>: one trigger and one resolve per alert at most. The routing key is
-- not stored (it is a secret from the environment, added when sending).
CREATE TABLE pagerduty_events (
    key TEXT PRIMARY KEY,
    alert_id TEXT NOT NULL,
    action TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX pagerduty_events_due ON pagerduty_events (state, next_at);

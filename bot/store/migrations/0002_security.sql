-- Security alerts from CloudTrail (bot/security). Times are epoch seconds.
-- Every event that matched a rule; UNIQUE event_id is the only dedup.
CREATE TABLE security_events (
    id {serial},
    event_id TEXT NOT NULL UNIQUE,
    alert_id TEXT NOT NULL,
    rule_id TEXT NOT NULL,
    event_time DOUBLE PRECISION NOT NULL,
    event_source TEXT NOT NULL,
    event_name TEXT NOT NULL,
    principal TEXT NOT NULL,
    account TEXT NOT NULL,
    region TEXT NOT NULL,
    source_ip TEXT NOT NULL,
    error_code TEXT NOT NULL DEFAULT '',
    received_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX security_events_alert ON security_events (alert_id);

-- One alert = one group (rule, principal, account) within a sliding window, shown as one card.
CREATE TABLE security_alerts (
    id TEXT PRIMARY KEY,
    rule_id TEXT NOT NULL,
    title TEXT NOT NULL,
    severity TEXT NOT NULL,
    principal TEXT NOT NULL,
    account TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'open',
    event_count {bigint} NOT NULL DEFAULT 0,
    first_seen DOUBLE PRECISION NOT NULL,
    last_seen DOUBLE PRECISION NOT NULL,
    actions TEXT NOT NULL DEFAULT '[]',
    regions TEXT NOT NULL DEFAULT '[]',
    source_ips TEXT NOT NULL DEFAULT '[]',
    sample TEXT NOT NULL,
    acked_by TEXT NOT NULL DEFAULT '',
    acked_at DOUBLE PRECISION,
    assignee TEXT NOT NULL DEFAULT '',
    assigned_at DOUBLE PRECISION,
    resolved_by TEXT NOT NULL DEFAULT '',
    resolved_at DOUBLE PRECISION,
    dirty INTEGER NOT NULL DEFAULT 0,
    card_at DOUBLE PRECISION NOT NULL DEFAULT 0,
    card_seq INTEGER NOT NULL DEFAULT 0,
    created_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX security_alerts_group ON security_alerts (rule_id, principal, account, state, last_seen);
CREATE INDEX security_alerts_dirty ON security_alerts (dirty, card_at);

-- Counters for what was received but not alerted on (ignored, suppressed, duplicates, poison messages).
CREATE TABLE security_counters (
    name TEXT PRIMARY KEY,
    n {bigint} NOT NULL DEFAULT 0
);

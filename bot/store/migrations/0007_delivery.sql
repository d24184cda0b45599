-- Issue 16: what a deploy changes (approval previews, lead time), delivery outcomes (DORA figures),
-- digests posted once per slot, and notifications held during a route's quiet hours.
CREATE TABLE request_changes (
    request_id TEXT PRIMARY KEY,
    base_sha TEXT NOT NULL DEFAULT '',
    head_sha TEXT NOT NULL DEFAULT '',
    relation TEXT NOT NULL,
    total INTEGER NOT NULL DEFAULT 0,
    behind INTEGER NOT NULL DEFAULT 0,
    oldest_commit_at DOUBLE PRECISION,
    commits TEXT NOT NULL DEFAULT '[]',
    checks TEXT NOT NULL DEFAULT '',
    failing TEXT NOT NULL DEFAULT '[]',
    at DOUBLE PRECISION NOT NULL
);

CREATE TABLE delivery_outcomes (
    request_id TEXT NOT NULL,
    attempt INTEGER NOT NULL,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    outcome TEXT NOT NULL,
    started_at DOUBLE PRECISION NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    lead_s DOUBLE PRECISION,
    approval_wait_s DOUBLE PRECISION,
    restore_s DOUBLE PRECISION,
    PRIMARY KEY (request_id, attempt)
);
CREATE INDEX delivery_outcomes_at ON delivery_outcomes (service, environment, at);

CREATE TABLE digest_slots (
    route TEXT NOT NULL,
    slot TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (route, slot)
);

CREATE TABLE held_notifications (
    id {serial},
    route TEXT NOT NULL,
    address TEXT NOT NULL,
    platform TEXT NOT NULL,
    key TEXT NOT NULL,
    line TEXT NOT NULL,
    at DOUBLE PRECISION NOT NULL
);
CREATE UNIQUE INDEX held_notifications_key ON held_notifications (route, platform, address, key);

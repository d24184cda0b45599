-- Core schema. {serial} and {bigint} are filled in per dialect (SQLite / PostgreSQL). Times are epoch seconds.
CREATE TABLE requests (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    ref TEXT NOT NULL,
    requester TEXT NOT NULL,
    requester_platform TEXT NOT NULL,
    requester_id TEXT NOT NULL,
    channel TEXT NOT NULL,
    state TEXT NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    workflow TEXT NOT NULL,
    approvals_required INTEGER NOT NULL DEFAULT 0,
    expires_at DOUBLE PRECISION,
    sha TEXT NOT NULL DEFAULT '',
    target_version TEXT NOT NULL DEFAULT '',
    run_id {bigint},
    run_url TEXT NOT NULL DEFAULT '',
    response_url TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    lease_until DOUBLE PRECISION
);
CREATE INDEX requests_state ON requests (state);
CREATE UNIQUE INDEX requests_run ON requests (run_id);

CREATE TABLE approvals (
    request_id TEXT NOT NULL REFERENCES requests (id),
    person TEXT NOT NULL,
    platform TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    decision TEXT NOT NULL,
    comment TEXT NOT NULL DEFAULT '',
    sha TEXT NOT NULL DEFAULT '',
    at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (request_id, person)
);

CREATE TABLE audit (
    id {serial},
    at DOUBLE PRECISION NOT NULL,
    actor TEXT NOT NULL,
    action TEXT NOT NULL,
    target TEXT NOT NULL,
    channel TEXT NOT NULL,
    result TEXT NOT NULL,
    detail TEXT NOT NULL DEFAULT ''
);
CREATE INDEX audit_at ON audit (at);

CREATE TABLE outbox (
    id {serial},
    key TEXT NOT NULL UNIQUE,
    platform TEXT NOT NULL,
    address TEXT NOT NULL,
    user_id TEXT NOT NULL DEFAULT '',
    op TEXT NOT NULL,
    card_key TEXT NOT NULL DEFAULT '',
    payload TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_at DOUBLE PRECISION NOT NULL,
    created_at DOUBLE PRECISION NOT NULL,
    sent_at DOUBLE PRECISION,
    lease_until DOUBLE PRECISION,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX outbox_pending ON outbox (state, next_at);

CREATE TABLE message_refs (
    platform TEXT NOT NULL,
    address TEXT NOT NULL,
    card_key TEXT NOT NULL,
    ts TEXT NOT NULL,
    PRIMARY KEY (platform, address, card_key)
);

CREATE TABLE inbox (
    id {serial},
    source TEXT NOT NULL,
    key TEXT NOT NULL UNIQUE,
    kind TEXT NOT NULL,
    body TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    received_at DOUBLE PRECISION NOT NULL,
    lease_until DOUBLE PRECISION,
    last_error TEXT NOT NULL DEFAULT ''
);
CREATE INDEX inbox_pending ON inbox (state, id);

CREATE TABLE idempotency (
    key TEXT PRIMARY KEY,
    at DOUBLE PRECISION NOT NULL
);

CREATE TABLE locks (
    environment TEXT PRIMARY KEY,
    holder TEXT NOT NULL,
    reason TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    expires_at DOUBLE PRECISION
);

CREATE TABLE deployments (
    id {serial},
    service TEXT NOT NULL,
    environment TEXT NOT NULL,
    version TEXT NOT NULL,
    sha TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    by_person TEXT NOT NULL DEFAULT '',
    at DOUBLE PRECISION NOT NULL
);
CREATE INDEX deployments_latest ON deployments (service, environment, id);

-- Issue 25 item 2: continuous delivery to lower environments (services.<svc>.auto_deploy, bot/deploys/auto.py).
-- A request made by auto-deploy names the branch whose green push it is (its card says "auto-deploy").
ALTER TABLE requests ADD COLUMN auto_deploy TEXT NOT NULL DEFAULT '';

-- One row per (service, commit) pushed to a service's auto-deploy branch. state: waiting (for its checks) |
-- paused (checks green, the environment locked or frozen) | requested (request_id made) | refused (the pusher may
-- not deploy there) | superseded (a newer commit was pushed first). A request is made by the one conditional
-- UPDATE ... WHERE state IN ('waiting', 'paused') that wins: once per commit, whatever the number of check suites,
-- redeliveries or replicas.
CREATE TABLE auto_deploys (
    service TEXT NOT NULL,
    sha TEXT NOT NULL,
    branch TEXT NOT NULL,
    environment TEXT NOT NULL,
    pusher TEXT NOT NULL DEFAULT '',
    pusher_id {bigint} NOT NULL DEFAULT 0,
    state TEXT NOT NULL,
    request_id TEXT NOT NULL DEFAULT '',
    detail TEXT NOT NULL DEFAULT '',
    created_at DOUBLE PRECISION NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (service, sha)
);
CREATE INDEX auto_deploys_state ON auto_deploys (state, service)

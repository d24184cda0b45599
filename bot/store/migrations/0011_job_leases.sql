-- Issue 24: periodic jobs done by one replica at a time (reconcile GitHub runs, ask GitHub to redeliver).
-- A replica takes a job's lease with one conditional upsert (bot/store/leases.py); "mark" is the job's own
-- durable progress (the newest hook delivery already looked at).
CREATE TABLE job_leases (
    name TEXT PRIMARY KEY,
    owner TEXT NOT NULL DEFAULT '',
    lease_until DOUBLE PRECISION NOT NULL DEFAULT 0,
    mark TEXT NOT NULL DEFAULT ''
);

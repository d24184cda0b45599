-- Issue 12: critical alerts get their own outbox lane, delivered ahead of everything else queued in their channel.
ALTER TABLE outbox ADD COLUMN priority INTEGER NOT NULL DEFAULT 0

-- The outbox's lane heads (OutboxOps.outbox_due) read from this index alone: with thousands of cards held back
-- by channel rate limits, finding each lane's oldest pending message was a scan of the table plus a sort on
-- every pass (5.3 ms with 3,000 pending on SQLite; 0.9 ms with this index). docs/benchmarks.md.
CREATE INDEX outbox_lanes ON outbox (state, platform, address, priority, op, card_key, id);

-- Retention (Unit.prune) deletes in bounded chunks; these keep each chunk from scanning the rows it keeps.
-- The inbox's is partial: a row enters it when it is finished, not on the ingest path.
CREATE INDEX inbox_finished ON inbox (received_at) WHERE state <> 'pending';
CREATE INDEX outbox_finished ON outbox (state, created_at);
CREATE INDEX idempotency_at ON idempotency (at)

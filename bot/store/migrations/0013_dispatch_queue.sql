-- Issue 23 item 5: deploys queue in the bot per (service, environment). A request approved while another run of
-- the same pair is unfinished waits (queued_behind names that request, for its card); `/deploy cancel` asks GitHub
-- to cancel a run (cancel_requested_by says who, so the card can tell that cancellation from one GitHub made).
ALTER TABLE requests ADD COLUMN queued_behind TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN cancel_requested_by TEXT NOT NULL DEFAULT '';
-- claim_dispatch looks for the pair's unfinished requests on every claim
CREATE INDEX requests_lane ON requests (service, environment, state);

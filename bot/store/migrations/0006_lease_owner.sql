-- Who holds a lease: a replica that stops hands its leased work back at once (bot/store/leases.py).
ALTER TABLE inbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE outbox ADD COLUMN lease_owner TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN lease_owner TEXT NOT NULL DEFAULT ''

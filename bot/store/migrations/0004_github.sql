-- GitHub depth: protection-rule callbacks and per-job status on requests.
ALTER TABLE requests ADD COLUMN callback_url TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN jobs TEXT NOT NULL DEFAULT '[]';
ALTER TABLE requests ADD COLUMN attempt INTEGER NOT NULL DEFAULT 1

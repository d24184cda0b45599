-- Issue 25 items 1 and 3: a request made by promotion names the environment its commit succeeded in (its card says
-- so, and the worker holds it to that commit); an emergency request carries the reason its requester gave.
ALTER TABLE requests ADD COLUMN promoted_from TEXT NOT NULL DEFAULT '';
ALTER TABLE requests ADD COLUMN emergency TEXT NOT NULL DEFAULT '';

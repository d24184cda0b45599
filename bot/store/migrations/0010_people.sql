-- Issue 21: one person across platforms, links that prove both ends, requests that freeze who asked.
--
-- identity_links: a chat identity (Slack user, Teams AAD object id) -> one GitHub account, keyed by GitHub's numeric
-- user id (the login is a display name that can change). A GitHub account holds at most one identity per chat
-- platform; the same account linked from Slack and from Teams makes those two identities one person.
CREATE TABLE identity_links_v2 (
    platform TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    github_login TEXT NOT NULL,
    github_id BIGINT NOT NULL,
    linked_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, platform_id),
    UNIQUE (github_id, platform)
);
INSERT INTO identity_links_v2 (platform, platform_id, github_login, github_id, linked_at)
    SELECT platform, platform_id, github_login, github_id, linked_at FROM identity_links WHERE github_id > 0;
DROP TABLE identity_links;
ALTER TABLE identity_links_v2 RENAME TO identity_links;
CREATE INDEX identity_links_github ON identity_links (github_id);

-- A sign-in finished at GitHub but not yet confirmed in chat: the link exists only when the same chat user sends
-- the code shown on the callback page (bot/identity_links.py). Only a hash of the code is kept.
CREATE TABLE pending_links (
    code_hash TEXT PRIMARY KEY,
    platform TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    github_login TEXT NOT NULL,
    github_id BIGINT NOT NULL,
    expires_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX pending_links_owner ON pending_links (platform, platform_id);

-- Every identity the requester held when the request was made, and every identity of each approver when they
-- decided: four eyes compares the sets (bot/policy/rbac.py). Space-separated "kind:value" strings.
ALTER TABLE requests ADD COLUMN requester_identities TEXT NOT NULL DEFAULT '';
ALTER TABLE approvals ADD COLUMN identities TEXT NOT NULL DEFAULT ''

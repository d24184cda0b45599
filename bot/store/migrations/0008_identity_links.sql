-- Verified links chat identity -> GitHub login, made through GitHub's sign-in (bot/identity_links.py).
-- One chat identity per login (UNIQUE): a login can never be attached to a second person (four eyes).
-- The OAuth token itself is never stored.
CREATE TABLE identity_links (
    platform TEXT NOT NULL,
    platform_id TEXT NOT NULL,
    github_login TEXT NOT NULL UNIQUE,
    github_id BIGINT NOT NULL DEFAULT 0,
    linked_at DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (platform, platform_id)
)

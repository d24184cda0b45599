-- Teams bot conversation references, kept so the bot can post approval requests proactively.
-- reference is the Bot Framework ConversationReference as JSON (serviceUrl, conversation, bot, user, ...).
CREATE TABLE teams_conversations (
    id {serial},
    conversation_id TEXT NOT NULL UNIQUE,
    conversation_type TEXT NOT NULL DEFAULT '',
    tenant_id TEXT NOT NULL DEFAULT '',
    person TEXT NOT NULL DEFAULT '',
    reference TEXT NOT NULL,
    updated_at DOUBLE PRECISION NOT NULL
);
CREATE INDEX teams_conversations_person ON teams_conversations (person, conversation_type);

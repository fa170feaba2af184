-- +goose Up
-- endpoint: the API endpoint a record is for ("chat/completions",
-- "embeddings", "responses", "messages", "moderations", …). origin: empty
-- for a client's request; for a call the gateway made itself on the
-- caller's behalf, who made it ("guardrail moderation"). Rows stored
-- before have ''. A column with a constant default is added without
-- rewriting the table.
ALTER TABLE polygate_usage ADD COLUMN IF NOT EXISTS endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE polygate_usage ADD COLUMN IF NOT EXISTS origin TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE polygate_usage DROP COLUMN IF EXISTS origin;
ALTER TABLE polygate_usage DROP COLUMN IF EXISTS endpoint;

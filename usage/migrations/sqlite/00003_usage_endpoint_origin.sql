-- +goose Up
-- endpoint: the API endpoint a record is for ("chat/completions",
-- "embeddings", "responses", "messages", "moderations", …). origin: empty
-- for a client's request; for a call the gateway made itself on the
-- caller's behalf, who made it ("guardrail moderation"). Rows stored
-- before have ''.
ALTER TABLE polygate_usage ADD COLUMN endpoint TEXT NOT NULL DEFAULT '';
ALTER TABLE polygate_usage ADD COLUMN origin TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE polygate_usage DROP COLUMN origin;
ALTER TABLE polygate_usage DROP COLUMN endpoint;

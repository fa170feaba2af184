-- +goose Up
-- cache_write_tokens: prompt tokens written to the provider's prompt
-- cache, of which cache_write_1h_tokens with a one-hour lifetime; both are
-- part of input_tokens, as cached_tokens (cache reads) is.
-- reasoning_tokens: the part of output_tokens the model spent reasoning.
-- Rows stored before have 0.
ALTER TABLE polygate_usage ADD COLUMN cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE polygate_usage ADD COLUMN cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE polygate_usage ADD COLUMN reasoning_tokens BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE polygate_usage DROP COLUMN reasoning_tokens;
ALTER TABLE polygate_usage DROP COLUMN cache_write_1h_tokens;
ALTER TABLE polygate_usage DROP COLUMN cache_write_tokens;

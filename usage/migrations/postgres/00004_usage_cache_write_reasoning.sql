-- +goose Up
-- cache_write_tokens: prompt tokens written to the provider's prompt
-- cache, of which cache_write_1h_tokens with a one-hour lifetime; both are
-- part of input_tokens, as cached_tokens (cache reads) is.
-- reasoning_tokens: the part of output_tokens the model spent reasoning.
-- Rows stored before have 0. A column with a constant default is added
-- without rewriting the table.
ALTER TABLE polygate_usage ADD COLUMN IF NOT EXISTS cache_write_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE polygate_usage ADD COLUMN IF NOT EXISTS cache_write_1h_tokens BIGINT NOT NULL DEFAULT 0;
ALTER TABLE polygate_usage ADD COLUMN IF NOT EXISTS reasoning_tokens BIGINT NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE polygate_usage DROP COLUMN IF EXISTS reasoning_tokens;
ALTER TABLE polygate_usage DROP COLUMN IF EXISTS cache_write_1h_tokens;
ALTER TABLE polygate_usage DROP COLUMN IF EXISTS cache_write_tokens;

-- +goose Up
-- The usage table is written far more than it is read, and every index
-- costs each insert. The gateway's own reads select a time range, which
-- polygate_usage_ts serves. Add your own indexes for other reads (per
-- key, say): the gateway never drops an index it did not create.
DROP INDEX IF EXISTS polygate_usage_key_ts;

-- +goose Down
CREATE INDEX IF NOT EXISTS polygate_usage_key_ts ON polygate_usage (key_id, ts);

-- +goose Up
-- The usage table is written far more than it is read, and every index
-- costs each insert. The gateway's own reads select a time range, and
-- rows arrive in about time order, so a BRIN index on ts serves them at
-- a fraction of a B-tree's upkeep. Add your own indexes for other reads
-- (per key, say): the gateway never drops an index it did not create.
DROP INDEX IF EXISTS polygate_usage_key_ts;
DROP INDEX IF EXISTS polygate_usage_ts;
CREATE INDEX IF NOT EXISTS polygate_usage_ts_brin ON polygate_usage USING brin (ts);

-- +goose Down
DROP INDEX IF EXISTS polygate_usage_ts_brin;
CREATE INDEX IF NOT EXISTS polygate_usage_ts ON polygate_usage (ts);
CREATE INDEX IF NOT EXISTS polygate_usage_key_ts ON polygate_usage (key_id, ts);

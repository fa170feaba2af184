-- +goose Up
-- Gateway-issued virtual keys. Only the SHA-256 of a key is stored.
CREATE TABLE IF NOT EXISTS polygate_api_keys (
	id          TEXT PRIMARY KEY,
	name        TEXT NOT NULL,
	hash        TEXT NOT NULL UNIQUE,
	last4       TEXT NOT NULL,
	plan        TEXT NOT NULL DEFAULT '',
	budget_usd  REAL,
	expires_at  TIMESTAMP,
	revoked_at  TIMESTAMP,
	created_at  TIMESTAMP NOT NULL,
	updated_at  TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS polygate_api_keys_updated_at ON polygate_api_keys (updated_at);

-- One row per request. request_id makes replays from spill files idempotent.
CREATE TABLE IF NOT EXISTS polygate_usage (
	request_id     TEXT PRIMARY KEY,
	ts             TIMESTAMP NOT NULL,
	caller         TEXT NOT NULL DEFAULT '',
	key_id         TEXT NOT NULL DEFAULT '',
	plan           TEXT NOT NULL DEFAULT '',
	model          TEXT NOT NULL DEFAULT '',
	provider       TEXT NOT NULL DEFAULT '',
	upstream_model TEXT NOT NULL DEFAULT '',
	input_tokens   BIGINT NOT NULL DEFAULT 0,
	output_tokens  BIGINT NOT NULL DEFAULT 0,
	cached_tokens  BIGINT NOT NULL DEFAULT 0,
	cost_usd       REAL NOT NULL DEFAULT 0,
	latency_ms     BIGINT NOT NULL DEFAULT 0,
	ttft_ms        BIGINT NOT NULL DEFAULT 0,
	status         INTEGER NOT NULL DEFAULT 0,
	cache_hit      INTEGER NOT NULL DEFAULT 0,
	guardrails     TEXT NOT NULL DEFAULT '',
	attempts       INTEGER NOT NULL DEFAULT 0,
	streamed       INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS polygate_usage_ts ON polygate_usage (ts);
CREATE INDEX IF NOT EXISTS polygate_usage_key_ts ON polygate_usage (key_id, ts);

-- Quota counters shared by instances: each instance owns its rows and
-- writes its absolute totals per subject and window; res_* are its
-- requests in flight, ignored once its heartbeat in polygate_instances
-- goes stale.
CREATE TABLE IF NOT EXISTS polygate_counters (
	kind         TEXT NOT NULL,
	win          BIGINT NOT NULL,
	subject      TEXT NOT NULL,
	instance     TEXT NOT NULL,
	requests     BIGINT NOT NULL DEFAULT 0,
	tokens       BIGINT NOT NULL DEFAULT 0,
	cost_usd     REAL NOT NULL DEFAULT 0,
	res_requests BIGINT NOT NULL DEFAULT 0,
	res_tokens   BIGINT NOT NULL DEFAULT 0,
	res_cost_usd REAL NOT NULL DEFAULT 0,
	updated_ms   BIGINT NOT NULL,
	PRIMARY KEY (kind, win, subject, instance)
);
CREATE INDEX IF NOT EXISTS polygate_counters_updated ON polygate_counters (updated_ms);

CREATE TABLE IF NOT EXISTS polygate_instances (
	id         TEXT PRIMARY KEY,
	host       TEXT NOT NULL DEFAULT '',
	started_ms BIGINT NOT NULL,
	seen_ms    BIGINT NOT NULL
);

-- +goose Down
DROP TABLE IF EXISTS polygate_instances;
DROP TABLE IF EXISTS polygate_counters;
DROP TABLE IF EXISTS polygate_usage;
DROP TABLE IF EXISTS polygate_api_keys;

-- +goose Up
-- Responses API state: for a response a translated provider answered
-- (upstream ''), the request, the response and the conversation up to and
-- including it, to answer previous_response_id and GET /v1/responses/{id};
-- for a provider that speaks the Responses API itself (native 1), which
-- upstream made the id, so that later requests naming it go there.
-- request, response and history are JSON text. Rows are readable by
-- caller_id only and deleted once past expires_at.
CREATE TABLE IF NOT EXISTS polygate_responses (
	id             TEXT PRIMARY KEY,
	caller_id      TEXT NOT NULL,
	model          TEXT NOT NULL DEFAULT '',
	upstream       TEXT NOT NULL DEFAULT '',
	upstream_model TEXT NOT NULL DEFAULT '',
	native         INTEGER NOT NULL DEFAULT 0,
	request        TEXT NOT NULL DEFAULT '',
	response       TEXT NOT NULL DEFAULT '',
	history        TEXT NOT NULL DEFAULT '',
	created_at     TIMESTAMP NOT NULL,
	expires_at     TIMESTAMP NOT NULL
);
CREATE INDEX IF NOT EXISTS polygate_responses_expires_at ON polygate_responses (expires_at);

-- +goose Down
DROP TABLE IF EXISTS polygate_responses;

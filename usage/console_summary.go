package usage

import (
	"context"
	"fmt"
	"time"
)

// Totals are the totals of the stored records of a time range, for the
// usage console.
type Totals struct {
	Requests int64 `json:"requests" db:"requests"`
	// Token totals: InputTokens counts every prompt token, cache reads
	// (CachedTokens) and writes (CacheWriteTokens, of which
	// CacheWrite1hTokens with a one-hour lifetime) included; OutputTokens
	// every completion token, ReasoningTokens included.
	InputTokens        int64   `json:"input_tokens" db:"input_tokens"`
	OutputTokens       int64   `json:"output_tokens" db:"output_tokens"`
	CachedTokens       int64   `json:"cached_tokens" db:"cached_tokens"`
	CacheWriteTokens   int64   `json:"cache_write_tokens" db:"cache_write_tokens"`
	CacheWrite1hTokens int64   `json:"cache_write_1h_tokens" db:"cache_write_1h_tokens"`
	ReasoningTokens    int64   `json:"reasoning_tokens" db:"reasoning_tokens"`
	CostUSD            float64 `json:"cost_usd" db:"cost_usd"`
	// Errors counts requests answered with a status of 400 or more
	// (refusals by a limit or a guardrail included).
	Errors int64 `json:"errors" db:"errors"`
	// ServerErrors counts requests answered with a status of 500 or more.
	ServerErrors int64 `json:"server_errors" db:"server_errors"`
	// CacheHits counts requests answered from the response cache.
	CacheHits int64 `json:"cache_hits" db:"cache_hits"`
	// GuardrailRequests counts requests on which a guardrail fired
	// (blocked, redacted or logged); GuardrailBlocks those it blocked.
	GuardrailRequests int64 `json:"guardrail_requests" db:"guardrail_requests"`
	GuardrailBlocks   int64 `json:"guardrail_blocks" db:"guardrail_blocks"`
	// AvgLatencyMS is the mean total duration; AvgTTFTMS the mean time to
	// the first token of the streamed requests that sent one.
	AvgLatencyMS float64 `json:"avg_latency_ms" db:"avg_latency_ms"`
	AvgTTFTMS    float64 `json:"avg_ttft_ms" db:"avg_ttft_ms"`
}

// Totals totals the stored records with since <= time < until. Records
// still buffered or spilled are not included until written.
func (s *Service) Totals(ctx context.Context, since, until time.Time) (Totals, error) {
	// Verdicts are stored as a JSON array of objects with "action".
	q := `SELECT
		CAST(COUNT(*) AS BIGINT) AS requests,
		` + tokenSums + `,
		COALESCE(SUM(u.cost_usd), 0.0) AS cost_usd,
		CAST(COALESCE(SUM(CASE WHEN u.status >= 400 THEN 1 ELSE 0 END), 0) AS BIGINT) AS errors,
		CAST(COALESCE(SUM(CASE WHEN u.status >= 500 THEN 1 ELSE 0 END), 0) AS BIGINT) AS server_errors,
		CAST(COALESCE(SUM(CASE WHEN u.cache_hit THEN 1 ELSE 0 END), 0) AS BIGINT) AS cache_hits,
		CAST(COALESCE(SUM(CASE WHEN u.guardrails <> '' THEN 1 ELSE 0 END), 0) AS BIGINT) AS guardrail_requests,
		CAST(COALESCE(SUM(CASE WHEN u.guardrails LIKE '%"action":"block"%' THEN 1 ELSE 0 END), 0) AS BIGINT) AS guardrail_blocks,
		CAST(COALESCE(AVG(u.latency_ms), 0) AS DOUBLE PRECISION) AS avg_latency_ms,
		CAST(COALESCE(AVG(CASE WHEN u.ttft_ms > 0 THEN u.ttft_ms END), 0) AS DOUBLE PRECISION) AS avg_ttft_ms
		FROM polygate_usage u
		WHERE u.ts >= ? AND u.ts < ?`
	var t Totals
	if err := s.e.db.GetContext(ctx, &t, s.e.d.q(q), since.UTC(), until.UTC()); err != nil {
		return Totals{}, fmt.Errorf("reading usage totals: %v", err)
	}
	return t, nil
}

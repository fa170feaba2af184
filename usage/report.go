package usage

import (
	"context"
	"fmt"
	"time"
)

// Groupings of [Service.Usage].
var GroupBys = []string{"key", "caller", "model", "provider", "endpoint", "day"}

// UsageRow is one group of a usage report.
type UsageRow struct {
	// Group is the key ID, caller, model, provider, endpoint or day
	// (YYYY-MM-DD, UTC) the row totals.
	Group string `json:"group"`
	// Name is the key's name when grouping by key.
	Name     string `json:"name,omitempty"`
	Requests int64  `json:"requests"`
	// InputTokens counts every prompt token, CachedTokens (cache reads)
	// and CacheWriteTokens (cache writes, of which CacheWrite1hTokens with
	// a one-hour lifetime) included; OutputTokens every completion token,
	// ReasoningTokens included.
	InputTokens        int64   `json:"input_tokens"`
	OutputTokens       int64   `json:"output_tokens"`
	CachedTokens       int64   `json:"cached_tokens"`
	CacheWriteTokens   int64   `json:"cache_write_tokens"`
	CacheWrite1hTokens int64   `json:"cache_write_1h_tokens"`
	ReasoningTokens    int64   `json:"reasoning_tokens"`
	CostUSD            float64 `json:"cost_usd"`
}

// tokenSums are the SELECT expressions of the token totals, named as
// UsageRow's and Totals' db tags.
const tokenSums = `CAST(COALESCE(SUM(u.input_tokens), 0) AS BIGINT) AS input_tokens,
		CAST(COALESCE(SUM(u.output_tokens), 0) AS BIGINT) AS output_tokens,
		CAST(COALESCE(SUM(u.cached_tokens), 0) AS BIGINT) AS cached_tokens,
		CAST(COALESCE(SUM(u.cache_write_tokens), 0) AS BIGINT) AS cache_write_tokens,
		CAST(COALESCE(SUM(u.cache_write_1h_tokens), 0) AS BIGINT) AS cache_write_1h_tokens,
		CAST(COALESCE(SUM(u.reasoning_tokens), 0) AS BIGINT) AS reasoning_tokens`

// Usage totals the stored records with since <= time < until, grouped by
// "key", "caller", "model", "provider", "endpoint" or "day". Days are
// listed in order, other groups by cost, highest first. Records still
// buffered or spilled are not included until written.
func (s *Service) Usage(ctx context.Context, groupBy string, since, until time.Time) ([]UsageRow, error) {
	var group, name, join string
	order := "cost_usd DESC, grp"
	switch groupBy {
	case "key":
		group, name = "u.key_id", "COALESCE(MAX(k.name), '')"
		join = " LEFT JOIN polygate_api_keys k ON k.id = u.key_id"
	case "caller":
		group, name = "u.caller", "''"
	case "model":
		group, name = "u.model", "''"
	case "provider":
		group, name = "u.provider", "''"
	case "endpoint":
		group, name = "u.endpoint", "''"
	case "day":
		group, name = s.e.d.day, "''"
		order = "grp"
	default:
		return nil, fmt.Errorf("unknown grouping %q (want key, caller, model, provider, endpoint or day)", groupBy)
	}
	q := `SELECT ` + group + ` AS grp, ` + name + ` AS name,
		CAST(COUNT(*) AS BIGINT) AS requests,
		` + tokenSums + `,
		COALESCE(SUM(u.cost_usd), 0.0) AS cost_usd
		FROM polygate_usage u` + join + `
		WHERE u.ts >= ? AND u.ts < ?
		GROUP BY ` + group + `
		ORDER BY ` + order
	var rows []struct {
		Group              string  `db:"grp"`
		Name               string  `db:"name"`
		Requests           int64   `db:"requests"`
		InputTokens        int64   `db:"input_tokens"`
		OutputTokens       int64   `db:"output_tokens"`
		CachedTokens       int64   `db:"cached_tokens"`
		CacheWriteTokens   int64   `db:"cache_write_tokens"`
		CacheWrite1hTokens int64   `db:"cache_write_1h_tokens"`
		ReasoningTokens    int64   `db:"reasoning_tokens"`
		CostUSD            float64 `db:"cost_usd"`
	}
	if err := s.e.db.SelectContext(ctx, &rows, s.e.d.q(q), since.UTC(), until.UTC()); err != nil {
		return nil, fmt.Errorf("reading usage: %v", err)
	}
	out := make([]UsageRow, len(rows))
	for i, r := range rows {
		out[i] = UsageRow(r)
	}
	return out, nil
}

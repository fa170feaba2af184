package usage

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Limits of [Service.Series]: a series has at most MaxSeriesBuckets
// buckets and MaxSeriesGroups groups besides "other", so at most
// 400 × 9 points per metric.
const (
	MaxSeriesBuckets = 400
	MaxSeriesGroups  = 8
)

// SeriesGroupBys are the groupings of [Service.Series]; "" is the total.
var SeriesGroupBys = []string{"", "key", "caller", "model", "provider", "endpoint"}

// SeriesBuckets are the bucket sizes of [Service.Series].
var SeriesBuckets = []string{"hour", "day"}

// ErrBadSeries is wrapped by the errors of [Service.Series] that come from
// its arguments, not from the database.
var ErrBadSeries = errors.New("invalid series")

// Series is usage over time: per bucket (UTC hour or day) and group.
type Series struct {
	Bucket  string `json:"bucket"`
	GroupBy string `json:"group_by"`
	// Since and Until are the range, widened to whole buckets.
	Since time.Time `json:"since"`
	Until time.Time `json:"until"`
	// Buckets are the starts of the buckets, oldest first.
	Buckets []time.Time `json:"buckets"`
	// Groups hold one value per bucket for each metric, biggest spender
	// first; "other" (Other set) sums the groups past MaxSeriesGroups.
	Groups []SeriesGroup `json:"groups"`
}

// SeriesGroup is one group of a Series.
type SeriesGroup struct {
	// Group is the key ID, caller, model, provider or endpoint; empty for
	// the total.
	Group string `json:"group"`
	// Name is the key's name when grouping by key.
	Name string `json:"name,omitempty"`
	// Other is set on the group that sums the smaller groups.
	Other    bool    `json:"other,omitempty"`
	Requests []int64 `json:"requests"`
	Errors   []int64 `json:"errors"`
	// Token totals, as in Totals: cache reads and writes are part of
	// InputTokens, reasoning of OutputTokens.
	InputTokens        []int64   `json:"input_tokens"`
	OutputTokens       []int64   `json:"output_tokens"`
	CachedTokens       []int64   `json:"cached_tokens"`
	CacheWriteTokens   []int64   `json:"cache_write_tokens"`
	CacheWrite1hTokens []int64   `json:"cache_write_1h_tokens"`
	ReasoningTokens    []int64   `json:"reasoning_tokens"`
	CostUSD            []float64 `json:"cost_usd"`
}

// seriesColumns are the record columns of the groupings.
var seriesColumns = map[string]string{
	"key": "u.key_id", "caller": "u.caller", "model": "u.model", "provider": "u.provider", "endpoint": "u.endpoint",
}

// otherGroup stands for the folded groups in the query; it cannot be a
// stored value (NUL bytes are removed from records).
const otherGroup = "\x01other"

// Series totals the stored records with since <= time < until (widened to
// whole UTC buckets) per bucket, "hour" or "day", and per group: ""
// (the total), "key", "caller", "model", "provider" or "endpoint". The groups are the
// biggest spenders (by cost, then requests) of [Service.Usage] for the
// range; the rest are summed as "other". Errors wrapping ErrBadSeries are
// the arguments' fault.
func (s *Service) Series(ctx context.Context, bucket, groupBy string, since, until time.Time) (*Series, error) {
	var step time.Duration
	var layout string
	var bucketExpr string
	pg := s.e.d == postgresDialect
	switch bucket {
	case "hour":
		step, layout = time.Hour, "2006-01-02 15"
		bucketExpr = "substr(u.ts, 1, 13)"
		if pg {
			bucketExpr = "to_char(u.ts AT TIME ZONE 'UTC', 'YYYY-MM-DD HH24')"
		}
	case "day":
		step, layout = 24*time.Hour, time.DateOnly
		bucketExpr = s.e.d.day
	default:
		return nil, fmt.Errorf("%w: unknown bucket %q (want hour or day)", ErrBadSeries, bucket)
	}
	col, ok := seriesColumns[groupBy]
	if !ok && groupBy != "" {
		return nil, fmt.Errorf("%w: unknown grouping %q (want key, caller, model, provider or endpoint)", ErrBadSeries, groupBy)
	}
	since = since.UTC().Truncate(step)
	if u := until.UTC().Truncate(step); u.Before(until) {
		until = u.Add(step)
	} else {
		until = u
	}
	if !since.Before(until) {
		return nil, fmt.Errorf("%w: the range is empty", ErrBadSeries)
	}
	n := int(until.Sub(since) / step)
	if n > MaxSeriesBuckets {
		return nil, fmt.Errorf("%w: %d %s buckets in the range, at most %d", ErrBadSeries, n, bucket, MaxSeriesBuckets)
	}
	out := &Series{Bucket: bucket, GroupBy: groupBy, Since: since, Until: until, Buckets: make([]time.Time, n)}
	for i := range out.Buckets {
		out.Buckets[i] = since.Add(time.Duration(i) * step)
	}

	groupExpr := "''"
	var args []any
	index := map[string]int{}
	if groupBy != "" {
		rows, err := s.Usage(ctx, groupBy, since, until)
		if err != nil {
			return nil, err
		}
		slices.SortStableFunc(rows, func(a, b UsageRow) int {
			return cmp.Or(cmp.Compare(b.CostUSD, a.CostUSD), cmp.Compare(b.Requests, a.Requests), strings.Compare(a.Group, b.Group))
		})
		top := rows[:min(len(rows), MaxSeriesGroups)]
		for _, r := range top {
			index[r.Group] = len(out.Groups)
			out.Groups = append(out.Groups, newSeriesGroup(r.Group, r.Name, false, n))
		}
		groupExpr = col
		if len(rows) > len(top) {
			index[otherGroup] = len(out.Groups)
			out.Groups = append(out.Groups, newSeriesGroup("", "", true, n))
			marks := strings.TrimSuffix(strings.Repeat("?, ", len(top)), ", ")
			groupExpr = "CASE WHEN " + col + " IN (" + marks + ") THEN " + col + " ELSE '" + otherGroup + "' END"
			for _, r := range top {
				args = append(args, r.Group)
			}
		}
	} else {
		index[""] = 0
		out.Groups = append(out.Groups, newSeriesGroup("", "", false, n))
	}
	q := `SELECT ` + bucketExpr + ` AS bucket, ` + groupExpr + ` AS grp,
		CAST(COUNT(*) AS BIGINT) AS requests,
		CAST(COALESCE(SUM(CASE WHEN u.status >= 400 THEN 1 ELSE 0 END), 0) AS BIGINT) AS errors,
		` + tokenSums + `,
		COALESCE(SUM(u.cost_usd), 0.0) AS cost_usd
		FROM polygate_usage u
		WHERE u.ts >= ? AND u.ts < ?
		GROUP BY 1, 2`
	args = append(args, since, until)
	var rows []struct {
		Bucket             string  `db:"bucket"`
		Group              string  `db:"grp"`
		Requests           int64   `db:"requests"`
		Errors             int64   `db:"errors"`
		InputTokens        int64   `db:"input_tokens"`
		OutputTokens       int64   `db:"output_tokens"`
		CachedTokens       int64   `db:"cached_tokens"`
		CacheWriteTokens   int64   `db:"cache_write_tokens"`
		CacheWrite1hTokens int64   `db:"cache_write_1h_tokens"`
		ReasoningTokens    int64   `db:"reasoning_tokens"`
		CostUSD            float64 `db:"cost_usd"`
	}
	if err := s.e.db.SelectContext(ctx, &rows, s.e.d.q(q), args...); err != nil {
		return nil, fmt.Errorf("reading usage series: %v", err)
	}
	for _, r := range rows {
		t, err := time.Parse(layout, r.Bucket)
		if err != nil {
			return nil, fmt.Errorf("reading usage series: bucket %q: %v", r.Bucket, err)
		}
		b := int(t.Sub(since) / step)
		g, ok := index[r.Group]
		if b < 0 || b >= n || !ok {
			continue
		}
		sg := &out.Groups[g]
		sg.Requests[b] += r.Requests
		sg.Errors[b] += r.Errors
		sg.InputTokens[b] += r.InputTokens
		sg.OutputTokens[b] += r.OutputTokens
		sg.CachedTokens[b] += r.CachedTokens
		sg.CacheWriteTokens[b] += r.CacheWriteTokens
		sg.CacheWrite1hTokens[b] += r.CacheWrite1hTokens
		sg.ReasoningTokens[b] += r.ReasoningTokens
		sg.CostUSD[b] += r.CostUSD
	}
	return out, nil
}

func newSeriesGroup(group, name string, other bool, n int) SeriesGroup {
	return SeriesGroup{
		Group: group, Name: name, Other: other,
		Requests: make([]int64, n), Errors: make([]int64, n),
		InputTokens: make([]int64, n), OutputTokens: make([]int64, n),
		CachedTokens: make([]int64, n), CacheWriteTokens: make([]int64, n),
		CacheWrite1hTokens: make([]int64, n), ReasoningTokens: make([]int64, n),
		CostUSD: make([]float64, n),
	}
}

package console

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/polygate/polygate/usage"
)

// Bounds of the query parameters.
const (
	// DefaultRange is the range shown when a request names none.
	DefaultRange = 24 * time.Hour
	// MaxRange is the longest range, as ?range= or since/until.
	MaxRange = 400 * 24 * time.Hour
	// DefaultRecent is how many recent requests are listed by default.
	DefaultRecent = 50
	// TopGroups is how many groups of each kind the summary lists.
	TopGroups = 10
	// hourlyUpTo is the longest range whose series is hourly by default.
	hourlyUpTo = 72 * time.Hour
)

// timeRange is the range a request asks about: since <= t < until.
type timeRange struct {
	since, until time.Time
}

func (tr timeRange) span() time.Duration { return tr.until.Sub(tr.since) }

// parseRange reads ?range=<n>h|<n>d (ending now) or ?since= and ?until=
// (RFC 3339 times or YYYY-MM-DD dates, UTC; until exclusive for a time,
// inclusive for a date, default now). Default: the last 24 hours.
func parseRange(q url.Values, now time.Time) (timeRange, error) {
	now = now.UTC()
	until := now.Add(time.Second) // records of this very second
	rng, since, untilS := q.Get("range"), q.Get("since"), q.Get("until")
	if rng != "" && (since != "" || untilS != "") {
		return timeRange{}, fmt.Errorf("give range or since and until, not both")
	}
	if since == "" && untilS != "" {
		return timeRange{}, fmt.Errorf("until needs since")
	}
	if since == "" {
		d := DefaultRange
		if rng != "" {
			var err error
			if d, err = parseSpan(rng); err != nil {
				return timeRange{}, err
			}
		}
		return timeRange{since: until.Add(-d), until: until}, nil
	}
	s, err := usage.ParseTime(since, false)
	if err != nil {
		return timeRange{}, fmt.Errorf("since: %v", err)
	}
	if untilS != "" {
		if until, err = usage.ParseTime(untilS, true); err != nil {
			return timeRange{}, fmt.Errorf("until: %v", err)
		}
	}
	tr := timeRange{since: s, until: until}
	switch {
	case !tr.until.After(tr.since):
		return timeRange{}, fmt.Errorf("until must be after since")
	case tr.span() > MaxRange:
		return timeRange{}, fmt.Errorf("the range is longer than %d days", MaxRange/(24*time.Hour))
	}
	return tr, nil
}

// parseSpan parses <n>h or <n>d.
func parseSpan(v string) (time.Duration, error) {
	bad := fmt.Errorf("range %q: want <n>h or <n>d, at most %dd", v, MaxRange/(24*time.Hour))
	if len(v) < 2 {
		return 0, bad
	}
	n, err := strconv.Atoi(v[:len(v)-1])
	if err != nil || n < 1 || strings.ContainsAny(v[:1], "+-") {
		return 0, bad
	}
	var unit time.Duration
	switch v[len(v)-1] {
	case 'h':
		unit = time.Hour
	case 'd':
		unit = 24 * time.Hour
	default:
		return 0, bad
	}
	if time.Duration(n) > MaxRange/unit {
		return 0, bad
	}
	return time.Duration(n) * unit, nil
}

// parseBucket reads ?bucket=hour|day; by default hourly for ranges of up
// to three days, daily beyond.
func parseBucket(q url.Values, tr timeRange) (string, error) {
	b := q.Get("bucket")
	if b == "" {
		if tr.span() <= hourlyUpTo {
			return "hour", nil
		}
		return "day", nil
	}
	if !slices.Contains(usage.SeriesBuckets, b) {
		return "", fmt.Errorf("bucket %q: want hour or day", b)
	}
	return b, nil
}

// parseGroupBy reads ?group_by=none|key|caller|model|provider|endpoint; none (or
// nothing) is the total.
func parseGroupBy(q url.Values) (string, error) {
	g := q.Get("group_by")
	if g == "none" {
		g = ""
	}
	if !slices.Contains(usage.SeriesGroupBys, g) {
		return "", fmt.Errorf("group_by %q: want none, key, caller, model, provider or endpoint", g)
	}
	return g, nil
}

// parseLimit reads ?limit=<n>, 1 to usage.MaxRecent.
func parseLimit(q url.Values) (int, error) {
	v := q.Get("limit")
	if v == "" {
		return DefaultRecent, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > usage.MaxRecent {
		return 0, fmt.Errorf("limit %q: want a number from 1 to %d", v, usage.MaxRecent)
	}
	return n, nil
}

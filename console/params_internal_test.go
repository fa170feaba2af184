package console

import (
	"net/http/httptest"
	"net/url"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	now := time.Date(2024, 5, 10, 12, 30, 0, 0, time.UTC)
	for _, tc := range []struct {
		q            string
		since, until time.Time
	}{
		{"", now.Add(time.Second - 24*time.Hour), now.Add(time.Second)},
		{"range=1h", now.Add(time.Second - time.Hour), now.Add(time.Second)},
		{"range=7d", now.Add(time.Second - 7*24*time.Hour), now.Add(time.Second)},
		{"since=2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), now.Add(time.Second)},
		{"since=2024-05-01&until=2024-05-01", time.Date(2024, 5, 1, 0, 0, 0, 0, time.UTC), time.Date(2024, 5, 2, 0, 0, 0, 0, time.UTC)},
		{"since=2024-05-01T10:00:00%2B02:00&until=2024-05-01T12:00:00Z", time.Date(2024, 5, 1, 8, 0, 0, 0, time.UTC), time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)},
	} {
		q, _ := url.ParseQuery(tc.q)
		tr, err := parseRange(q, now)
		if err != nil || !tr.since.Equal(tc.since) || !tr.until.Equal(tc.until) {
			t.Errorf("%q: %v..%v %v, want %v..%v", tc.q, tr.since, tr.until, err, tc.since, tc.until)
		}
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"range=24h", "range=400d", "range=401d", "range=+1h", "range=9999999999999999999h",
		"since=2024-01-01&until=2024-02-01", "since=2024-01-01T00:00:00Z", "bucket=hour", "range=1x"} {
		f.Add(s)
	}
	now := time.Date(2024, 5, 10, 12, 30, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		tr, err := parseRange(q, now)
		if err != nil {
			return
		}
		if !tr.until.After(tr.since) || tr.span() > MaxRange {
			t.Fatalf("%q: accepted %v..%v", raw, tr.since, tr.until)
		}
		b, err := parseBucket(q, tr)
		if err == nil && b != "hour" && b != "day" {
			t.Fatalf("%q: bucket %q", raw, b)
		}
		if g, err := parseGroupBy(q); err == nil && g != "" && g != "key" && g != "caller" && g != "model" && g != "provider" {
			t.Fatalf("%q: group_by %q", raw, g)
		}
		if n, err := parseLimit(q); err == nil && (n < 1 || n > 200) {
			t.Fatalf("%q: limit %d", raw, n)
		}
	})
}

func TestResolve(t *testing.T) {
	for _, tc := range []struct {
		path string
		want route
	}{
		{"/", route{kind: routePage}},
		{"/console/", route{kind: routePage}},
		{"/api/console/", route{kind: routePage}},
		{"/console", route{kind: routeRedirect, name: "./console"}},
		{"/console/api/summary", route{kind: routeAPI, name: "summary"}},
		{"/api/summary", route{kind: routeAPI, name: "summary"}},
		{"/console/api/keys", route{kind: routeAPI, name: "keys"}},
		{"/console/api/keys/key_abc", route{kind: routeAPI, name: "key", id: "key_abc"}},
		{"/console/api/keys/", route{kind: routeAPI, name: "key", id: ""}},
		{"/console/assets/console.js", route{kind: routeAsset, name: "console.js"}},
		{"/a:b", route{kind: routeRedirect, name: "./a:b"}},
	} {
		got := resolve(httptest.NewRequest("GET", tc.path, nil))
		if got != tc.want {
			t.Errorf("%s: %+v, want %+v", tc.path, got, tc.want)
		}
	}
}

func FuzzResolve(f *testing.F) {
	for _, s := range []string{"/", "/console/api/keys/x", "/a/assets/", "//api/", "/api/keys/a/b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		r := httptest.NewRequest("GET", "/", nil)
		r.URL.Path = path
		rt := resolve(r)
		if rt.kind == routeRedirect && (len(rt.name) < 2 || rt.name[:2] != "./") {
			t.Fatalf("%q: redirect to %q", path, rt.name)
		}
	})
}

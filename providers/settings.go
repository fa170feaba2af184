package providers

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Settings are the options every HTTP provider type shares. Provider types
// embed it, so its fields sit at the top level of their JSON.
type Settings struct {
	// BaseURL is the API root. Its default depends on the provider type.
	// May hold placeholders such as {env.X}.
	BaseURL string `json:"base_url,omitempty"`
	// APIKey is the provider's key, sent in the type's auth header. Keep
	// it a placeholder like {env.OPENAI_API_KEY}: it is resolved when the
	// config is loaded, so the saved JSON never holds the key. Empty sends
	// no key (local servers).
	APIKey string `json:"api_key,omitempty"`
	// Headers are extra headers sent upstream on every request (values may
	// hold placeholders).
	Headers map[string]string `json:"headers,omitempty"`
	// Timeout bounds one upstream call, a whole stream included. Default: 10m.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// FirstByteTimeout bounds the wait for the upstream's response headers.
	// Default: none (only Timeout applies).
	FirstByteTimeout caddy.Duration `json:"first_byte_timeout,omitempty"`
	// MaxIdleConnsPerHost is how many idle connections to keep open to the
	// upstream. Default: 1024.
	MaxIdleConnsPerHost int `json:"max_idle_conns_per_host,omitempty"`

	identity string // set by Resolve
}

// Identity implements Identifier for every provider type that embeds
// Settings: the type, the resolved base URL and a fingerprint of the key
// and extra headers (never the key itself). Empty before Resolve.
func (s *Settings) Identity() string { return s.identity }

// UnmarshalOption parses the current Caddyfile subdirective when it is one
// of the shared options (base_url, api_key, header, timeout,
// first_byte_timeout, max_idle_conns_per_host) and reports whether it was.
func (s *Settings) UnmarshalOption(d *caddyfile.Dispenser) (bool, error) {
	switch d.Val() {
	case "base_url":
		if err := ParseString(d, &s.BaseURL); err != nil {
			return true, err
		}
		if !strings.Contains(s.BaseURL, "{") {
			if err := CheckBaseURL(s.BaseURL); err != nil {
				return true, d.Err(err.Error())
			}
		}
	case "api_key":
		return true, ParseString(d, &s.APIKey)
	case "header":
		var k, v string
		if !d.Args(&k, &v) || d.NextArg() {
			return true, d.Err("header: expected a field and a value")
		}
		if s.Headers == nil {
			s.Headers = make(map[string]string)
		}
		s.Headers[k] = v
	case "timeout":
		return true, ParseDuration(d, &s.Timeout)
	case "first_byte_timeout":
		return true, ParseDuration(d, &s.FirstByteTimeout)
	case "max_idle_conns_per_host":
		return true, ParseInt(d, &s.MaxIdleConnsPerHost)
	default:
		return false, nil
	}
	return true, nil
}

// Setup is what Settings resolve to when a provider is provisioned.
type Setup struct {
	// BaseURL is the resolved, checked API root without a trailing slash.
	BaseURL string
	// Header holds the constant upstream headers: the extra headers, the
	// key in its auth header, and Content-Type: application/json. It is
	// shared read-only by every request.
	Header http.Header
	// Client sends the requests; its Name is the provider type until the
	// gateway names the provider.
	Client Client
}

// Resolve resolves placeholders (never writing them back, so keys stay out
// of the saved config), applies defaultBaseURL when BaseURL is empty (an
// empty default makes base_url required), checks the URL and prepares the
// HTTP client. The key goes into authHeader, after authPrefix (e.g.
// "Authorization" and "Bearer ").
func (s *Settings) Resolve(typ, defaultBaseURL, authHeader, authPrefix string) (Setup, error) {
	repl := caddy.NewReplacer()
	base := strings.TrimRight(repl.ReplaceAll(s.BaseURL, ""), "/")
	if base == "" {
		base = defaultBaseURL
	}
	if base == "" {
		return Setup{}, errors.New("base_url is required")
	}
	if err := CheckBaseURL(base); err != nil {
		return Setup{}, err
	}
	header := make(http.Header, len(s.Headers)+2)
	for k, v := range s.Headers {
		header.Set(k, repl.ReplaceAll(v, ""))
	}
	if key := repl.ReplaceAll(s.APIKey, ""); key != "" {
		header.Set(authHeader, authPrefix+key)
	}
	header.Set("Content-Type", "application/json")
	if s.MaxIdleConnsPerHost < 0 {
		return Setup{}, fmt.Errorf("max_idle_conns_per_host must not be negative")
	}
	fp := sha256.New()
	for _, k := range slices.Sorted(maps.Keys(header)) {
		fp.Write([]byte(k + ":" + strings.Join(header[k], ",") + "\n"))
	}
	s.identity = typ + " " + base + " " + hex.EncodeToString(fp.Sum(nil)[:8])
	return Setup{
		BaseURL: base,
		Header:  header,
		Client: Client{
			HTTP:             &http.Client{Transport: NewTransport(s.MaxIdleConnsPerHost)},
			Timeout:          time.Duration(s.Timeout),
			FirstByteTimeout: time.Duration(s.FirstByteTimeout),
			Name:             typ,
		},
	}, nil
}

// versionPath matches a URL path that ends in an API version segment: /v1,
// /v2, /v1beta, /v1alpha, /v1beta2…
var versionPath = regexp.MustCompile(`(?i)/v\d+(?:alpha|beta)?\d*/*$`)

// TrimVersionPath reports whether the path of the base URL u ends in an API
// version segment (/v1, /v1beta, /v2alpha…), and returns u without it and
// the segment. Provider types whose base_url is the API root without the
// version path (as in the vendors' own SDKs) use it to refuse a base_url
// that would end up calling /v1/v1/….
func TrimVersionPath(u string) (root, version string, ok bool) {
	parsed, err := url.Parse(u)
	if err != nil {
		return "", "", false
	}
	loc := versionPath.FindStringIndex(parsed.Path)
	if loc == nil {
		return "", "", false
	}
	version = strings.Trim(parsed.Path[loc[0]:], "/")
	parsed.Path = parsed.Path[:loc[0]]
	parsed.RawPath = ""
	return parsed.String(), version, true
}

package cache

import (
	"net/http"
	"strings"
)

// ParseCacheControl reads the client's wishes from the request headers h.
// noCache (Cache-Control: no-cache or max-age=0, or Pragma: no-cache when
// there is no Cache-Control header) means: do not answer from the cache,
// but store the fresh answer. noStore (Cache-Control: no-store) means:
// neither answer from the cache nor store the answer, so noStore implies
// noCache. Directive names are
// matched case-insensitively; unknown directives are ignored.
func ParseCacheControl(h http.Header) (noCache, noStore bool) {
	values := h.Values("Cache-Control")
	if len(values) == 0 {
		for _, v := range h.Values("Pragma") {
			if hasDirective(v, "no-cache") {
				return true, false
			}
		}
		return false, false
	}
	for _, v := range values {
		for v != "" {
			var d string
			d, v, _ = strings.Cut(v, ",")
			name, arg, _ := strings.Cut(strings.TrimSpace(d), "=")
			name = strings.TrimSpace(name)
			switch {
			case strings.EqualFold(name, "no-store"):
				noStore = true
			case strings.EqualFold(name, "no-cache"):
				noCache = true
			case strings.EqualFold(name, "max-age"):
				if strings.Trim(strings.TrimSpace(arg), `"`) == "0" {
					noCache = true
				}
			}
		}
	}
	if noStore {
		noCache = true
	}
	return noCache, noStore
}

func hasDirective(v, name string) bool {
	for v != "" {
		var d string
		d, v, _ = strings.Cut(v, ",")
		if strings.EqualFold(strings.TrimSpace(d), name) {
			return true
		}
	}
	return false
}

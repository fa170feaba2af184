package console

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

type routeKind int

const (
	routePage routeKind = iota
	routeRedirect
	routeAsset
	routeAPI
)

// route is what a request asks for.
type route struct {
	kind routeKind
	// name is the API endpoint ("summary", "keys", ...), the asset's file
	// name, or the redirect's relative target.
	name string
	// id is the key ID of <prefix>/api/keys/{id}.
	id string
}

// resolve reads the route from the end of the request path, so that any
// prefix before it works. The trailing slash of the page is checked on
// the original request, whose path a handle_path may have shortened to
// "/".
func resolve(r *http.Request) route {
	path := r.URL.Path
	seg := strings.Split(path, "/")
	n := len(seg)
	switch {
	case n >= 3 && seg[n-3] == "api" && seg[n-2] == "keys":
		return route{kind: routeAPI, name: "key", id: seg[n-1]}
	case n >= 2 && seg[n-2] == "api" && seg[n-1] != "":
		return route{kind: routeAPI, name: seg[n-1]}
	case n >= 2 && seg[n-2] == "assets" && seg[n-1] != "":
		return route{kind: routeAsset, name: seg[n-1]}
	}
	orig := path
	if or, ok := r.Context().Value(caddyhttp.OriginalRequestCtxKey).(http.Request); ok && or.URL != nil {
		orig = or.URL.Path
	}
	if strings.HasSuffix(orig, "/") {
		return route{kind: routePage}
	}
	last := orig[strings.LastIndexByte(orig, '/')+1:]
	return route{kind: routeRedirect, name: "./" + url.PathEscape(last)}
}

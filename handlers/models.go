package handlers

import (
	"net/http"
	"strings"
	"time"
)

// ServeModels serves GET /models (the configured public models, in OpenAI's
// list format) and GET /models/{id}.
func (g *Gateway) ServeModels(w http.ResponseWriter, r *http.Request, id string) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		methodNotAllowed(w, r, "GET, HEAD")
		return
	}
	if !g.identify(w, r, newCall("models")) {
		return
	}
	if id == "" {
		writeJSON(w, g.modelList)
		return
	}
	if m, ok := g.modelJSON[id]; ok {
		writeJSON(w, m)
		return
	}
	if route := g.Resolve(id); route != nil && strings.Contains(id, "/") {
		writeJSON(w, modelObject(id, route.Upstreams[0].ProviderName, time.Unix(0, 0)))
		return
	}
	writeError(w, r, modelNotFound(id))
}

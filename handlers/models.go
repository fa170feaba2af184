package handlers

import (
	"net/http"
	"strings"
	"time"
)

// modelsEndpoint is GET /models and GET /models/{id}: answered by the
// gateway itself, but identified, logged and counted like every call.
var modelsEndpoint = &endpoint{name: "models", newExchange: func() exchange { return nil }}

// ServeModels serves GET /models (the configured public models, in OpenAI's
// list format) and GET /models/{id}.
func (g *Gateway) ServeModels(w http.ResponseWriter, r *http.Request, id string) {
	c := g.newCall(w, r, modelsEndpoint)
	c.Model = id
	defer g.finish(c)
	if err := g.listModels(c, id); err != nil {
		g.fail(c, err)
	}
}

func (g *Gateway) listModels(c *Call, id string) error {
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodHead {
		return methodNotAllowed(c, "GET, HEAD")
	}
	if err := g.identify(c); err != nil {
		return err
	}
	if id == "" {
		writeJSON(c.w, g.modelList)
		return nil
	}
	if m, ok := g.modelJSON[id]; ok {
		writeJSON(c.w, m)
		return nil
	}
	if route := g.Resolve(id); route != nil && strings.Contains(id, "/") {
		writeJSON(c.w, modelObject(id, route.Upstreams[0].ProviderName, time.Unix(0, 0)))
		return nil
	}
	return modelNotFound(id)
}

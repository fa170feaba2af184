package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/polygate/polygate/dialects/messages"
	"github.com/polygate/polygate/openai"
)

// modelsEndpoint is GET /models and GET /models/{id}: answered by the
// gateway itself, but identified, logged and counted like every call.
var modelsEndpoint = &endpoint{name: "models", newExchange: func() exchange { return nil }}

// anthropicModelsEndpoint is modelsEndpoint for Anthropic's clients.
var anthropicModelsEndpoint = &endpoint{name: "models", newExchange: func() exchange { return nil }, writeError: messages.WriteError}

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
	// Anthropic's clients list models, and hear errors, in Anthropic's shape.
	anthropic := c.r.Header.Get("Anthropic-Version") != ""
	if anthropic {
		c.ep = anthropicModelsEndpoint
		anthropicAuth(c.r)
	}
	if c.r.Method != http.MethodGet && c.r.Method != http.MethodHead {
		return methodNotAllowed(c, "GET, HEAD")
	}
	if err := g.identify(c); err != nil {
		return err
	}
	if anthropic {
		if id == "" {
			writeJSON(c.w, g.anthropicModels)
			return nil
		}
		if _, ok := g.modelJSON[id]; ok {
			writeJSON(c.w, messages.ModelObject(id, g.modelsCreated))
			return nil
		}
		return &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest, Message: "model: " + id}
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

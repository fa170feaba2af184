package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// embeddingsEndpoint is POST /embeddings.
var embeddingsEndpoint = &endpoint{
	name:        guardrails.EndpointEmbeddings,
	cacheable:   true,
	guarded:     true,
	newExchange: func() exchange { return embeddingsExchange{} },
}

// ServeEmbeddings serves POST /embeddings.
func (g *Gateway) ServeEmbeddings(w http.ResponseWriter, r *http.Request) {
	g.serve(w, r, embeddingsEndpoint)
}

type embeddingsExchange struct{}

func (embeddingsExchange) parse(c *Call) *openai.Error {
	root, oe := parseObject(c.body)
	if oe != nil {
		return oe
	}
	model := root.Get("model")
	if model.Type != gjson.String || model.Str == "" {
		return openai.InvalidRequest("model", "you must provide a model parameter (a string)")
	}
	if in := root.Get("input"); !in.Exists() || in.Type == gjson.Null {
		return openai.InvalidRequest("input", "you must provide an input parameter")
	}
	model.Index += trimmedOffset(c.body)
	c.modelAt, c.Model = model, strings.Clone(model.Str) // records outlive the body
	return nil
}

func (embeddingsExchange) texts(c *Call) []string { return inputTexts(c.body) }

func (embeddingsExchange) send(ctx context.Context, c *Call, up *routing.Upstream) (*providers.Response, error) {
	return up.Provider.Embeddings(ctx, &providers.Request{Body: c.bodyFor(up), Model: up.Model})
}

func (embeddingsExchange) reply(c *Call, resp *providers.Response) {
	writeJSON(c.w, resp.Body)
	c.g.store(c, resp.Body)
	c.readUsage(gjson.GetBytes(resp.Body, "usage"))
}

func (embeddingsExchange) replay(c *Call, entry cache.Entry) bool {
	c.answeredFromCache(entry.Body)
	writeJSON(c.w, entry.Body)
	return true
}

package handlers

import (
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// ServeEmbeddings serves POST /embeddings.
func (g *Gateway) ServeEmbeddings(w http.ResponseWriter, r *http.Request) {
	c := newCall("embeddings")
	defer g.finish(r, c)
	body, ok := g.begin(w, r, c)
	if !ok {
		return
	}
	root, oe := parseObject(body)
	if oe != nil {
		c.Status = writeError(w, r, oe)
		return
	}
	model := root.Get("model")
	if model.Type != gjson.String || model.Str == "" {
		c.Status = writeError(w, r, openai.InvalidRequest("model", "you must provide a model parameter (a string)"))
		return
	}
	if in := root.Get("input"); !in.Exists() || in.Type == gjson.Null {
		c.Status = writeError(w, r, openai.InvalidRequest("input", "you must provide an input parameter"))
		return
	}
	model.Index += trimmedOffset(body)
	c.Model = model.Str
	a, ok := g.admit(w, r, c, "embeddings", body, model, 0, inputTexts)
	if !ok {
		return
	}
	if a.hit {
		writeJSON(w, a.entry.Body)
		c.Provider = "cache"
		c.readUsage(gjson.GetBytes(a.entry.Body, "usage"))
		c.Cost = 0
		setPlaceholders(r, requestInfo{model: c.Model, provider: c.Provider})
		return
	}
	body, model, route, lk := a.body, a.model, a.route, a.lk
	resp, err := g.attempt(r.Context(), c, route, body, model, func(up *providers.Upstream, body []byte) (*providers.Response, error) {
		return up.Provider.Embeddings(r.Context(), &providers.Request{Body: body, Model: up.Model})
	})
	if err != nil {
		g.fail(w, r, c, err)
		return
	}
	g.succeed(w, r, c, resp.Header)
	writeJSON(w, resp.Body)
	g.store(lk, resp.Body)
	c.readUsage(gjson.GetBytes(resp.Body, "usage"))
}

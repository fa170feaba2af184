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
	if r.Method != http.MethodPost {
		c.Status = http.StatusMethodNotAllowed
		methodNotAllowed(w, r, http.MethodPost)
		return
	}
	if !g.identify(w, r, c) {
		return
	}
	body, oe := g.readBody(r)
	if oe != nil {
		c.Status = writeError(w, r, oe)
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
	route := g.Resolve(c.Model)
	if route == nil {
		setPlaceholders(r, requestInfo{model: c.Model})
		c.Status = writeError(w, r, modelNotFound(c.Model))
		return
	}
	if checked, ok := g.checkInput(w, r, c, "embeddings", body); !ok {
		return
	} else if len(checked) != len(body) || &checked[0] != &body[0] {
		body, model = checked, relocateModel(checked)
	}
	c.price = route.Price
	if !g.reserve(w, r, c, 0, func() []string { return inputTexts(body) }) {
		return
	}
	entry, hit, lk := g.lookup(w, r, c, "embeddings", body)
	if hit {
		writeJSON(w, entry.Body)
		c.Provider = "cache"
		c.readUsage(gjson.GetBytes(entry.Body, "usage"))
		c.Cost = 0
		setPlaceholders(r, requestInfo{model: c.Model, provider: c.Provider})
		return
	}
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

package handlers

import (
	"net/http"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/providers"
)

// begin checks the method, identifies the caller and reads the body of a
// POST to a model endpoint; false means the client has its answer.
func (g *Gateway) begin(w http.ResponseWriter, r *http.Request, c *Call) ([]byte, bool) {
	if r.Method != http.MethodPost {
		c.Status = http.StatusMethodNotAllowed
		methodNotAllowed(w, r, http.MethodPost)
		return nil, false
	}
	if !g.identify(w, r, c) {
		return nil, false
	}
	body, oe := g.readBody(r)
	if oe != nil {
		c.Status = writeError(w, r, oe)
		return nil, false
	}
	return body, true
}

// admission is what a request that may go upstream carries on.
type admission struct {
	route *providers.Route
	body  []byte       // possibly rewritten by input guardrails
	model gjson.Result // the model value, located in body
	entry cache.Entry  // the stored answer, when hit
	hit   bool
	lk    cacheLookup
}

// admit takes a parsed request (c.Model set) through the steps before the
// provider: resolve the model, input guardrails, plan and quota, cache
// lookup. texts returns the prompt's texts for token counting. false means
// the client has its answer.
func (g *Gateway) admit(w http.ResponseWriter, r *http.Request, c *Call, endpoint string, body []byte, model gjson.Result, maxTokens int64, texts func([]byte) []string) (admission, bool) {
	a := admission{body: body, model: model}
	// The model is known from here on, also to a request refused below.
	setPlaceholders(r, requestInfo{model: c.Model})
	if a.route = g.Resolve(c.Model); a.route == nil {
		c.Status = writeError(w, r, modelNotFound(c.Model))
		return a, false
	}
	checked, ok := g.checkInput(w, r, c, endpoint, body)
	if !ok {
		return a, false
	}
	if len(checked) != len(body) || len(body) > 0 && &checked[0] != &body[0] {
		a.body, a.model = checked, relocateModel(checked)
	}
	c.price = a.route.Price
	if !g.reserve(w, r, c, maxTokens, func() []string { return texts(a.body) }) {
		return a, false
	}
	a.entry, a.hit, a.lk = g.lookup(w, r, c, endpoint, a.body)
	return a, true
}

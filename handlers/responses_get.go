package handlers

import (
	"bytes"
	"context"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/cache"
	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/routing"
)

// responseObjectEndpoint is what follows a stored response:
// GET and DELETE /responses/{id}, GET /responses/{id}/input_items and POST
// /responses/{id}/cancel. A response made by a native upstream is asked
// there (response ids belong to the account that made them); a translated
// one is answered from the gateway's store. Another caller's id is 404,
// exactly as an unknown one.
var responseObjectEndpoint = &endpoint{name: "responses", newExchange: func() exchange { return noExchange{} }}

// noExchange is the exchange of calls that never reach the pipeline's
// upstream steps.
type noExchange struct{}

func (noExchange) parse(*Call) *openai.Error { return nil }
func (noExchange) texts(*Call) []string      { return nil }
func (noExchange) send(context.Context, *Call, *routing.Upstream) (*providers.Response, error) {
	return nil, nil
}
func (noExchange) reply(*Call, *providers.Response) {}
func (noExchange) replay(*Call, cache.Entry) bool   { return false }

// ServeResponseObject serves the routes under /responses/{id}; rest is
// what follows "responses/".
func (g *Gateway) ServeResponseObject(w http.ResponseWriter, r *http.Request, rest string) {
	c := g.newCall(w, r, responseObjectEndpoint)
	defer g.finish(c)
	if err := g.runResponseObject(c, rest); err != nil {
		g.fail(c, err)
	}
}

func (g *Gateway) runResponseObject(c *Call, rest string) error {
	id, action, _ := strings.Cut(rest, "/")
	allow := ""
	switch action {
	case "":
		c.Endpoint = "responses/retrieve"
		if c.r.Method == http.MethodDelete {
			c.Endpoint = "responses/delete"
		} else if c.r.Method != http.MethodGet {
			allow = "GET, DELETE"
		}
	case "input_items":
		c.Endpoint = "responses/input_items"
		if c.r.Method != http.MethodGet {
			allow = http.MethodGet
		}
	case "cancel":
		c.Endpoint = "responses/cancel"
		if c.r.Method != http.MethodPost {
			allow = http.MethodPost
		}
	default:
		return &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest,
			Message: "Invalid URL (" + c.r.Method + " " + c.r.URL.Path + ")"}
	}
	if allow != "" {
		return methodNotAllowed(c, allow)
	}
	if err := g.identify(c); err != nil {
		return err
	}
	notFound := &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest,
		Message: "No response found with id '" + id + "'."}
	if g.Responses == nil || id == "" {
		return notFound
	}
	stored, found, err := g.Responses.GetResponse(c.ctx, id, c.CallerID)
	if err != nil {
		return &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer,
			Message: "the gateway's response store is unavailable"}
	}
	if !found {
		return notFound
	}
	c.Model, c.Provider, c.UpstreamModel = stored.Model, stored.Upstream, stored.UpstreamModel
	if stored.Native {
		return g.forwardResponseObject(c, stored, rest)
	}
	c.Provider = "polygate"
	switch action {
	case "":
		if c.r.Method == http.MethodDelete {
			if _, err := g.Responses.DeleteResponse(c.ctx, id, c.CallerID); err != nil {
				return &openai.Error{Status: http.StatusServiceUnavailable, Type: openai.TypeServer,
					Message: "the gateway's response store is unavailable"}
			}
			b := []byte(`{"id":`)
			b = openai.AppendString(b, id)
			writeJSON(c.w, append(b, `,"object":"response","deleted":true}`...))
			return nil
		}
		writeJSON(c.w, stored.Response)
	case "input_items":
		writeJSON(c.w, inputItems(stored.Request, c.r.URL.Query().Get("order") == "asc"))
	case "cancel":
		return openai.InvalidRequest("", "Only responses created with background=true can be cancelled.")
	}
	return nil
}

// forwardResponseObject asks the native upstream that made the response.
func (g *Gateway) forwardResponseObject(c *Call, stored StoredResponse, rest string) error {
	fw, ok := g.Providers[stored.Upstream].(providers.Forwarder)
	if !ok {
		return &openai.Error{Status: http.StatusNotFound, Type: openai.TypeInvalidRequest,
			Message: "No response found with id '" + stored.ID + "': provider " + stored.Upstream + " is no longer configured."}
	}
	var body []byte
	if c.r.Method == http.MethodPost {
		b, oe := g.readBody(c.r)
		if oe != nil {
			return oe
		}
		body = b
	}
	resp, err := fw.Forward(c.ctx, &providers.ForwardRequest{Method: c.r.Method, Path: "responses/" + rest,
		RawQuery: c.r.URL.RawQuery, Header: forwardHeader(c.r.Header, false), Body: body})
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	c.Attempts = 1
	h := c.w.Header()
	for k, v := range resp.Header {
		h[k] = v
	}
	dropHopByHop(h, false)
	h.Del("Set-Cookie")
	h.Set(HeaderProvider, stored.Upstream)
	c.Status = resp.StatusCode
	if c.r.Method == http.MethodDelete && resp.StatusCode/100 == 2 {
		_, _ = g.Responses.DeleteResponse(c.ctx, stored.ID, c.CallerID)
	}
	c.w.WriteHeader(resp.StatusCode)
	copyFlushing(c.w, resp.Body)
	return nil
}

// inputItems lists a stored request's input as the input_items list: a
// string input is one user message; items without an id get one made
// from their position.
func inputItems(request []byte, ascending bool) []byte {
	in := gjson.GetBytes(request, "input")
	var items [][]byte
	if in.Type == gjson.String {
		item := []byte(`{"id":"msg_input_0","type":"message","role":"user","status":"completed","content":[{"type":"input_text","text":`)
		item = openai.AppendString(item, in.Str)
		items = append(items, append(item, "}]}"...))
	} else {
		i := 0
		in.ForEach(func(_, v gjson.Result) bool {
			item := []byte(v.Raw)
			if !v.Get("id").Exists() && v.IsObject() {
				id := openai.AppendString(nil, "item_input_"+itoa(i))
				item = append(append([]byte(`{"id":`), id...), ',')
				item = append(item, bytes.TrimPrefix(bytes.TrimSpace([]byte(v.Raw)), []byte("{"))...)
			}
			items = append(items, item)
			i++
			return true
		})
	}
	if !ascending {
		slices.Reverse(items)
	}
	out := []byte(`{"object":"list","data":[`)
	out = append(out, bytes.Join(items, []byte(","))...)
	out = append(out, `],"has_more":false,"first_id":`...)
	first, last := "", ""
	if len(items) > 0 {
		first = gjson.GetBytes(items[0], "id").Str
		last = gjson.GetBytes(items[len(items)-1], "id").Str
	}
	out = openai.AppendString(out, first)
	out = append(out, `,"last_id":`...)
	out = openai.AppendString(out, last)
	return append(out, '}')
}

func itoa(i int) string { return strconv.Itoa(i) }

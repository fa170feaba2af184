package handlers

import (
	"bytes"
	"io"
	"mime"
	"net/http"
	"unicode/utf8"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// A meter says how a passed-through path is accounted.
type meter uint8

const (
	meterNone          meter = iota // cannot be accounted
	meterFree                       // costs nothing (moderations)
	meterTokens                     // the answer's usage, streamed or not (completions)
	meterImages                     // the answer's usage, else price_image per image
	meterSpeech                     // price_tts_chars per 1M characters of input
	meterTranscription              // the answer's usage, else price_audio_minute per minute of audio
)

// meterFor returns how a passed-through path (relative to the base path)
// is accounted. Paths that read or manage state (files, batches, vector
// stores, fine-tuning…) cost nothing themselves but could start work that
// does, so they are unaccounted.
func meterFor(path string) meter {
	switch path {
	case "completions":
		return meterTokens
	case "images/generations", "images/edits", "images/variations":
		return meterImages
	case "audio/speech":
		return meterSpeech
	case "audio/transcriptions", "audio/translations":
		return meterTranscription
	case "moderations":
		return meterFree
	}
	return meterNone
}

// checkMetered refuses a path the gateway cannot account to a caller
// whose plan has a token or dollar limit, unless the plan lists the path
// in unmetered_paths.
func (g *Gateway) checkMetered(c *Call) error {
	a := g.Accounting
	if a == nil || c.caller == nil || meterFor(c.Endpoint) != meterNone {
		return nil
	}
	if !a.Service.Metered(*c.caller) || a.Service.Unmetered(*c.caller, c.Endpoint) {
		return nil
	}
	return &openai.Error{Status: http.StatusForbidden, Type: openai.TypePermission, Code: "unmetered_path",
		Message: "the gateway cannot account " + c.r.Method + " /" + c.Endpoint + " and your plan has token or budget limits; " +
			"ask the operator to list the path in the plan's unmetered_paths"}
}

// meteredReply relays a metered pass-through answer and accounts it: a
// JSON answer is read whole (bounded) for its usage, an event stream is
// relayed event by event and scanned for usage, anything else (audio) is
// copied as it comes.
func (x *passthroughExchange) meteredReply(c *Call, upstream *http.Response, m meter) {
	h := c.w.Header()
	ct := upstream.Header.Get("Content-Type")
	mt, _, _ := mime.ParseMediaType(ct)
	ok := upstream.StatusCode/100 == 2
	switch {
	case ok && m == meterSpeech:
		c.Cost = float64(utf8.RuneCountInString(gjson.GetBytes(c.body, "input").Str)) * c.price.TTSChars / 1e6
		c.w.WriteHeader(upstream.StatusCode)
		copyFlushing(c.w, upstream.Body)
	case ok && mt == "text/event-stream":
		c.Stream = true
		c.w.WriteHeader(upstream.StatusCode)
		x.relayMetered(c, upstream.Body)
	case ok && (mt == "application/json" || mt == ""):
		b, err := io.ReadAll(io.LimitReader(upstream.Body, maxAnswer+1))
		if err != nil || len(b) > maxAnswer {
			c.Status = http.StatusBadGateway
			(&openai.Error{Status: http.StatusBadGateway, Type: openai.TypeServer, Message: "the provider's answer could not be read"}).Write(c.w)
			return
		}
		x.account(c, b, m)
		h.Del("Content-Length")
		writeJSON(c.w, b)
	default:
		// text, srt and vtt transcriptions say no duration: uncosted.
		c.w.WriteHeader(upstream.StatusCode)
		copyFlushing(c.w, upstream.Body)
	}
}

// account reads the usage (or the units) of a JSON answer.
func (x *passthroughExchange) account(c *Call, body []byte, m meter) {
	u := gjson.GetBytes(body, "usage")
	switch {
	case m == meterFree:
	case u.Get("prompt_tokens").Exists():
		c.readUsage(u)
	case u.Get("input_tokens").Exists() || u.Get("output_tokens").Exists():
		c.InputTokens, c.OutputTokens = u.Get("input_tokens").Int(), u.Get("output_tokens").Int()
		c.CachedTokens = u.Get("input_tokens_details.cached_tokens").Int()
		c.setCost()
	case m == meterImages:
		c.Cost = float64(len(gjson.GetBytes(body, "data").Array())) * c.price.Image
	case m == meterTranscription:
		seconds := gjson.GetBytes(body, "duration").Float()
		if u.Get("type").Str == "duration" {
			seconds = u.Get("seconds").Float()
		}
		c.Cost = seconds / 60 * c.price.AudioMinute
	}
}

// relayMetered relays an event stream as it comes, reading usage from the
// events that carry it.
func (x *passthroughExchange) relayMetered(c *Call, body io.Reader) {
	ev := openai.NewEventReader(body)
	rc := http.NewResponseController(c.w)
	var out, text []byte
	defer func() {
		if c.InputTokens == 0 && c.OutputTokens == 0 {
			c.estimateCutStream(text)
		}
	}()
	for {
		e, err := ev.Next()
		if err != nil {
			return
		}
		text = append(text, gjson.GetBytes(e.Data, "choices.0.text").Str...)
		if bytes.Contains(e.Data, usageMarker) {
			if u := gjson.GetBytes(e.Data, "usage"); u.IsObject() {
				x.account(c, e.Data, meterTokens)
			}
		}
		out = out[:0]
		if len(e.Name) > 0 {
			out = append(append(append(out, "event: "...), e.Name...), '\n')
		}
		out = openai.AppendEvent(out, e.Data)
		if _, err := c.w.Write(out); err != nil {
			c.Status = 499
			return
		}
		if !ev.Buffered() && rc.Flush() != nil {
			c.Status = 499
			return
		}
	}
}

package responses

import (
	"bytes"
	"encoding/json"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
)

// readChunkGJSON is the plain gjson reading of a chunk that Chunk's
// one-pass reader replaced: the oracle of FuzzChunkReader.
func readChunkGJSON(chunk []byte) (ch chunkChoice, usage, model, tier string, object bool) {
	c := gjson.ParseBytes(chunk)
	if !c.IsObject() {
		return ch, "", "", "", false
	}
	var choices gjson.Result
	c.ForEach(func(k, v gjson.Result) bool {
		switch k.Str {
		case "choices":
			choices = v
		case "usage":
			usage = v.Raw
		case "model":
			model = v.Raw
		case "service_tier":
			tier = v.Raw
		}
		return true
	})
	if !choices.IsArray() {
		return ch, usage, model, tier, true
	}
	choices.ForEach(func(_, v gjson.Result) bool {
		if !v.IsObject() {
			return true
		}
		if i := v.Get("index"); i.Type == gjson.Number && i.Int() != 0 {
			return true
		}
		ch.found = true
		v.ForEach(func(k, m gjson.Result) bool {
			switch k.Str {
			case "index":
				ch.index = m.Raw
			case "delta":
				ch.delta = m.Raw
				m.ForEach(func(dk, dv gjson.Result) bool {
					ch.deltaMember(`"`+dk.Str+`"`, dv.Raw)
					return true
				})
			case "finish_reason":
				ch.finish = m.Raw
			case "logprobs":
				ch.logprobs = m.Raw
			}
			return true
		})
		return false
	})
	return ch, usage, model, tier, true
}

// FuzzChunkReader: on valid JSON, Chunk's reader finds what gjson finds,
// the first time and when the stream's head is skipped; and a stream fed
// any chunks gives the same events through either reading.
func FuzzChunkReader(f *testing.F) {
	for _, b := range seeds(f, "testdata/cases/*/chunks.jsonl") {
		f.Add(b)
	}
	f.Add([]byte(`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":1,"delta":{"content":"no"}},{"index":0,"delta":{"content":"yes\n","refusal":null},"finish_reason":"stop","logprobs":{"content":[]}}],"usage":{"prompt_tokens":1},"service_tier":"flex"}`))
	f.Add([]byte(`{"usage":null,"choices":[{"delta":{"content":"a"}}]}` + "\n" + `{"usage":null,"choices":[]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		stream := rawjson.Head{Key: `"choices"`, PerChunk: notHead} // carried from line to line
		for _, line := range bytes.Split(data, []byte("\n")) {
			if !json.Valid(line) || bytes.Contains(line, []byte(`\u`)) {
				continue // gjson and the raw reader differ only in names written with escapes
			}
			want, usage, model, tier, object := readChunkGJSON(line)
			if !object {
				continue
			}
			trimmed := string(bytes.TrimSpace(line))
			whole := chunkReader{c: trimmed}
			(&rawjson.Head{Key: `"choices"`}).Walk(trimmed, whole.walk)
			if whole.choice != want || whole.usage != usage || whole.model != model || whole.tier != tier {
				t.Fatalf("%s:\n got %+v usage %q model %q tier %q\nwant %+v usage %q model %q tier %q", line, whole.choice, whole.usage, whole.model, whole.tier, want, usage, model, tier)
			}
			// Through the stream's head, which may skip the members before
			// choices: the choice and the usage are read all the same.
			r := chunkReader{c: trimmed}
			stream.Walk(trimmed, r.walk)
			if r.choice != want || r.usage != usage {
				t.Fatalf("%s (through the stream's head):\n got %+v usage %q\nwant %+v usage %q", line, r.choice, r.usage, want, usage)
			}
		}
	})
}

// TestStreamHeadChanges: a chunk whose head differs is read whole, and a
// service_tier after the choices makes the next chunk be read whole too,
// so the tier is always the last one sent.
func TestStreamHeadChanges(t *testing.T) {
	s := NewStream(testRequest(t, `{"model":"m","input":"hi","stream":true}`))
	head := `{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"default",`
	for _, c := range []string{
		head + `"choices":[{"index":0,"delta":{"role":"assistant","content":""}}]}`,
		`{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","service_tier":"priority","choices":[{"index":0,"delta":{"content":"a"}}]}`,
		head + `"choices":[{"index":0,"delta":{"content":"b"}}],"service_tier":"flex"}`,
		head + `"choices":[{"index":0,"delta":{"content":"c"},"finish_reason":"stop"}]}`,
		head + `"choices":[],"usage":{"prompt_tokens":1,"completion_tokens":3,"total_tokens":4}}`,
	} {
		s.Chunk([]byte(c))
	}
	resp := s.Response()
	if tier := gjson.GetBytes(resp, "service_tier").Str; tier != "default" {
		t.Errorf("service_tier %q, want the last one sent (default)", tier)
	}
	if text := gjson.GetBytes(resp, "output.0.content.0.text").Str; text != "abc" {
		t.Errorf("text %q in %s", text, resp)
	}
}

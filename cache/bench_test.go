package cache

import (
	"fmt"
	"strings"
	"testing"
)

// typicalBody is a ~1 KB chat request: system and user messages, one tool,
// sampling parameters, stream options.
var typicalBody = []byte(`{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant that answers briefly and cites sources when it can."},{"role":"user","content":"What is the capital of France, and what is its population? Please also list three famous museums there with a one-line description of each."}],"temperature":0.2,"top_p":1,"max_tokens":512,"stream":true,"stream_options":{"include_usage":true},"user":"user-1234","tools":[{"type":"function","function":{"name":"search_web","description":"Search the web for a query and return the top results.","parameters":{"type":"object","properties":{"query":{"type":"string","description":"The search query"},"max_results":{"type":"integer","minimum":1,"maximum":10}},"required":["query"]}}}],"tool_choice":"auto","response_format":{"type":"text"}}`)

// largeBody is a ~16 KB conversation.
var largeBody = func() []byte {
	var b strings.Builder
	b.WriteString(`{"model":"gpt-4o","messages":[`)
	for i := range 40 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"role":"user","content":"Message %d: %s"}`, i, strings.Repeat("lorem ipsum dolor sit amet ", 14))
	}
	b.WriteString(`],"temperature":0.7}`)
	return []byte(b.String())
}()

func BenchmarkKey(b *testing.B) {
	for _, bc := range []struct {
		name string
		body []byte
	}{{"1KB", typicalBody}, {"16KB", largeBody}} {
		b.Run(bc.name, func(b *testing.B) {
			b.SetBytes(int64(len(bc.body)))
			b.ReportAllocs()
			for b.Loop() {
				if _, ok := MakeKey("chat/completions", "gpt-4o-mini", "key_123", bc.body); !ok {
					b.Fatal("refused")
				}
			}
		})
	}
}

func benchCache(b *testing.B) (*Cache, Key) {
	c, err := New(Config{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(c.Close)
	k, _ := c.Key("chat/completions", "gpt-4o-mini", "key_123", "", typicalBody)
	c.Set(k, Entry{Body: storedCompletion})
	c.Wait()
	return c, k
}

func BenchmarkGet(b *testing.B) {
	c, k := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkGetParallel(b *testing.B) {
	c, k := benchCache(b)
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, ok := c.Get(k); !ok {
				b.Error("miss")
				return
			}
		}
	})
}

// BenchmarkHit is the cache's share of a non-streamed hit: key, lookup.
func BenchmarkHit(b *testing.B) {
	c, _ := benchCache(b)
	b.ReportAllocs()
	for b.Loop() {
		k, _ := c.Key("chat/completions", "gpt-4o-mini", "key_123", "", typicalBody)
		if _, ok := c.Get(k); !ok {
			b.Fatal("miss")
		}
	}
}

func BenchmarkReplay(b *testing.B) {
	buf := make([]byte, 0, 16<<10)
	b.SetBytes(int64(len(storedCompletion)))
	b.ReportAllocs()
	for b.Loop() {
		var err error
		if buf, err = AppendReplay(buf[:0], storedCompletion, true); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAccumulator(b *testing.B) {
	chunks := byteChunks(upstreamStream)
	var acc Accumulator
	b.ReportAllocs()
	for b.Loop() {
		acc.Reset()
		for _, c := range chunks {
			acc.Add(c)
		}
		if _, ok := acc.Complete(); !ok {
			b.Fatal("incomplete")
		}
	}
}

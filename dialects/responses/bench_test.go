package responses

import (
	"fmt"
	"testing"
)

// BenchmarkStream translates a hub stream shaped like a translated
// provider's: a role chunk, 18 text deltas, the finish reason and the usage
// chunk.
func BenchmarkStream(b *testing.B) {
	req, e := ToChat([]byte(`{"model":"m","input":"Write a haiku about load balancers.","stream":true}`), nil)
	if e != nil {
		b.Fatal(e)
	}
	chunks := [][]byte{chunk(`{"role":"assistant","content":""}`, "")}
	for i := range 18 {
		chunks = append(chunks, chunk(fmt.Sprintf(`{"content":"word%d "}`, i), ""))
	}
	chunks = append(chunks, chunk(`{}`, "stop"), []byte(usageChunk))
	b.ReportAllocs()
	for b.Loop() {
		s := NewStream(req)
		for _, c := range chunks {
			s.Chunk(c)
		}
		s.Finish()
	}
}

// BenchmarkToChat translates a short Responses request to the hub.
func BenchmarkToChat(b *testing.B) {
	body := []byte(`{"model":"claude","instructions":"You are a helpful assistant.","input":"Write a haiku about load balancers.","max_output_tokens":64,"temperature":0.7,"stream":true}`)
	b.ReportAllocs()
	for b.Loop() {
		if _, e := ToChat(body, nil); e != nil {
			b.Fatal(e)
		}
	}
}

// BenchmarkOutputMessages reads the hub messages of a streamed answer's
// Response, as the gateway does to keep the conversation.
func BenchmarkOutputMessages(b *testing.B) {
	req, e := ToChat([]byte(`{"model":"m","instructions":"You are a helpful assistant.","input":"Write a haiku about load balancers.","stream":true}`), nil)
	if e != nil {
		b.Fatal(e)
	}
	s := NewStream(req)
	s.Chunk(chunk(`{"role":"assistant","content":""}`, ""))
	for i := range 18 {
		s.Chunk(chunk(fmt.Sprintf(`{"content":"word%d "}`, i), ""))
	}
	s.Chunk(chunk(`{}`, "stop"))
	s.Chunk([]byte(usageChunk))
	s.Finish()
	response := s.Response()
	b.ReportAllocs()
	for b.Loop() {
		if _, e := OutputMessages(response); e != nil {
			b.Fatal(e)
		}
	}
}

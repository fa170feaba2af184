package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/providers"
)

// The chat path's use of the hub's extensions: reasoning_effort as
// Claude's thinking budget, cache writes by lifetime, cache_control and
// thinking_blocks read from openai's types.

func TestReasoningEffort(t *testing.T) {
	p := newProvider(t, nil)
	const sonnet = "us.anthropic.claude-sonnet-4-5-20250929-v1:0"
	user := `"messages":[{"role":"user","content":"hi"}]`
	for _, tc := range []struct {
		name, model, body string
		thinking          string // additionalModelRequestFields.thinking, "" for none
		maxTokens         int64  // inferenceConfig.maxTokens, 0 for none
	}{
		{"high without max tokens leaves room for the answer", sonnet, `{"reasoning_effort":"high",` + user + `}`, `{"type":"enabled","budget_tokens":24576}`, 24576 + 4096},
		{"budget lowered to fit max_tokens", sonnet, `{"reasoning_effort":"high","max_tokens":10000,` + user + `}`, `{"type":"enabled","budget_tokens":8976}`, 10000},
		{"minimal", "anthropic.claude-opus-4-1-20250805-v1:0", `{"reasoning_effort":"minimal","max_completion_tokens":3000,` + user + `}`, `{"type":"enabled","budget_tokens":1024}`, 3000},
		{"none thinks not", sonnet, `{"reasoning_effort":"none",` + user + `}`, "", 0},
		{"the thinking switch wins", sonnet, `{"reasoning_effort":"high","thinking":{"type":"enabled","budget_tokens":1500},"max_tokens":4000,` + user + `}`, `{"type":"enabled","budget_tokens":1500}`, 4000},
		{"Claude 3.5 cannot think: ignored", "anthropic.claude-3-5-sonnet-20241022-v2:0", `{"reasoning_effort":"high",` + user + `}`, "", 0},
		{"other families: ignored", "amazon.nova-pro-v1:0", `{"reasoning_effort":"low",` + user + `}`, "", 0},
		{"Claude 3.7 thinks", "us.anthropic.claude-3-7-sonnet-20250219-v1:0", `{"reasoning_effort":"low",` + user + `}`, `{"type":"enabled","budget_tokens":2048}`, 2048 + 4096},
	} {
		out, err := p.translateRequest(decodeHub(t, []byte(tc.body)), tc.model)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		got, _ := json.Marshal(out)
		if th := gjson.GetBytes(got, "additionalModelRequestFields.thinking").Raw; th != tc.thinking {
			t.Errorf("%s: thinking %s, want %s", tc.name, th, tc.thinking)
		}
		if mt := gjson.GetBytes(got, "inferenceConfig.maxTokens").Int(); mt != tc.maxTokens {
			t.Errorf("%s: maxTokens %d, want %d", tc.name, mt, tc.maxTokens)
		}
	}
	for _, body := range []string{`{"reasoning_effort":"low","max_tokens":2048,` + user + `}`, `{"reasoning_effort":"extreme",` + user + `}`} {
		_, err := p.translateRequest(decodeHub(t, []byte(body)), sonnet)
		var pe *providers.Error
		if !errors.As(err, &pe) || pe.Err.Status != 400 || pe.Err.Param != "reasoning_effort" || !strings.Contains(pe.Err.Message, "reasoning_effort") {
			t.Errorf("%s: got %v, want a 400 naming reasoning_effort", body, err)
		}
	}
}

// TestReasoningEffortReachesBedrock: the fake Claude thinks when asked
// through reasoning_effort, and its signed thinking comes back.
func TestReasoningEffortReachesBedrock(t *testing.T) {
	fake := NewFakeBedrock(t)
	p := fakeProvider(t, fake, nil)
	resp, err := chat(t, p, "anthropic.claude-sonnet-4-5-20250929-v1:0", `{"model":"x","reasoning_effort":"low","messages":[{"role":"user","content":"Hello"}]}`, false)
	if err != nil {
		t.Fatal(err)
	}
	a := decodeAnswer(t, resp)
	tb := a.Choices[0].Message.ThinkingBlocks
	if len(tb) != 1 || tb[0].Signature == "" || a.Choices[0].Message.ReasoningContent == nil {
		t.Errorf("answer %s", resp.Body)
	}
	if b := fake.Calls()[0].Body; !bytes.Contains(b, []byte(`"additionalModelRequestFields":{"thinking":{"type":"enabled","budget_tokens":2048}}`)) ||
		!bytes.Contains(b, []byte(`"maxTokens":6144`)) {
		t.Errorf("Converse request %s", b)
	}
}

func TestCacheWriteUsage(t *testing.T) {
	for _, tc := range []struct {
		usage                 string
		prompt, write, write1 int
	}{
		{`{"inputTokens":10,"cacheWriteInputTokens":500,"cacheDetails":[{"inputTokens":500,"ttl":"1h"}]}`, 510, 500, 500},
		{`{"inputTokens":10,"cacheWriteInputTokens":500,"cacheDetails":[{"inputTokens":200,"ttl":"1h"},{"inputTokens":300,"ttl":"5m"}]}`, 510, 500, 200},
		{`{"inputTokens":10,"cacheWriteInputTokens":500}`, 510, 500, 0},
		{`{"inputTokens":10,"cacheDetails":[{"inputTokens":40,"ttl":"1h"},{"inputTokens":2,"ttl":"5m"}]}`, 52, 42, 40},
		{`{"inputTokens":10,"cacheWriteInputTokens":5,"cacheDetails":[{"inputTokens":40,"ttl":"1h"}]}`, 15, 5, 5},
	} {
		var u tokenUsage
		if err := json.Unmarshal([]byte(tc.usage), &u); err != nil {
			t.Fatal(err)
		}
		o := u.openAI()
		d := o.PromptTokensDetails
		if o.PromptTokens != tc.prompt || d.CacheWriteTokens != tc.write || d.CacheWrite1hTokens != tc.write1 {
			t.Errorf("%s: prompt %d write %d 1h %d, want %d %d %d", tc.usage, o.PromptTokens, d.CacheWriteTokens, d.CacheWrite1hTokens, tc.prompt, tc.write, tc.write1)
		}
	}

	// A stream's metadata usage carries the 1-hour part too.
	var buf bytes.Buffer
	for _, ev := range []fixtureEvent{
		{Event: "messageStart", Payload: []byte(`{"role":"assistant"}`)},
		{Event: "contentBlockDelta", Payload: []byte(`{"contentBlockIndex":0,"delta":{"text":"Hi"}}`)},
		{Event: "messageStop", Payload: []byte(`{"stopReason":"end_turn"}`)},
		{Event: "metadata", Payload: []byte(`{"usage":{"inputTokens":3,"outputTokens":1,"totalTokens":1204,"cacheWriteInputTokens":1200,"cacheDetails":[{"inputTokens":1200,"ttl":"1h"}]}}`)},
	} {
		if err := encodeEvent(&buf, ev); err != nil {
			t.Fatal(err)
		}
	}
	s := newStream(context.Background(), io.NopCloser(&buf), testClient(), "id", "m")
	var last []byte
	for {
		b, err := s.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		last = append(last[:0], b...)
	}
	if got := gjson.GetBytes(last, "usage.prompt_tokens_details").Raw; got != `{"cached_tokens":0,"cache_write_tokens":1200,"cache_write_1h_tokens":1200}` {
		t.Errorf("usage chunk %s", last)
	}
}

// TestHubExtensionsDecoded: cache_control and thinking_blocks reach the
// translation through openai's types, and a cache_control that is not an
// object is dropped, not refused.
func TestHubExtensionsDecoded(t *testing.T) {
	p := newProvider(t, nil)
	in := decodeHub(t, []byte(`{"messages":[
		{"role":"user","content":"hi","cache_control":"ephemeral"},
		{"role":"assistant","content":"hello","thinking_blocks":[{"type":"thinking","thinking":"t","signature":"s1"}]},
		{"role":"user","content":[{"type":"text","text":"again","cache_control":{"type":"ephemeral","ttl":"1h"}}]}],
		"tools":[{"type":"function","function":{"name":"f"},"cache_control":{"type":"ephemeral"}}]}`))
	out, err := p.translateRequest(in, "anthropic.claude-sonnet-4-5-20250929-v1:0")
	if err != nil {
		t.Fatal(err)
	}
	got, _ := json.Marshal(out)
	for _, want := range []string{
		`{"role":"user","content":[{"text":"hi"}]}`,
		`{"reasoningContent":{"reasoningText":{"text":"t","signature":"s1"}}}`,
		`[{"text":"again"},{"cachePoint":{"type":"default","ttl":"1h"}}]`,
		`"tools":[{"toolSpec":{"name":"f","inputSchema":{"json":{"type":"object","properties":{}}}}},{"cachePoint":{"type":"default"}}]`,
	} {
		if !bytes.Contains(got, []byte(want)) {
			t.Errorf("missing %s in %s", want, got)
		}
	}
}

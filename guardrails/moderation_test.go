package guardrails

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
)

// fakeCaller answers classifier calls with canned responses.
type fakeCaller struct {
	mu       sync.Mutex
	chat     func(body []byte) ([]byte, error)
	moderate func(body []byte) ([]byte, error)
	hang     bool // wait until the context ends
	bodies   [][]byte
	models   []string
}

func (f *fakeCaller) call(ctx context.Context, model string, body []byte, fn func([]byte) ([]byte, error)) ([]byte, error) {
	f.mu.Lock()
	f.bodies = append(f.bodies, body)
	f.models = append(f.models, model)
	f.mu.Unlock()
	if f.hang {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return fn(body)
}

func (f *fakeCaller) Chat(ctx context.Context, model string, body []byte) ([]byte, error) {
	return f.call(ctx, model, body, f.chat)
}

func (f *fakeCaller) Moderate(ctx context.Context, model string, body []byte) ([]byte, error) {
	return f.call(ctx, model, body, f.moderate)
}

func chatAnswer(content string) func([]byte) ([]byte, error) {
	return func([]byte) ([]byte, error) {
		b, _ := json.Marshal(map[string]any{"choices": []any{map[string]any{"message": map[string]any{"role": "assistant", "content": content}}}})
		return b, nil
	}
}

func newModeration(t *testing.T, m *Moderation, fc *fakeCaller) *Moderation {
	t.Helper()
	if m.Model == "" {
		m.Model = "llama-guard"
	}
	provision(t, m)
	m.logger = zap.NewNop()
	m.SetModelCaller(fc)
	return m
}

var convo = []byte(`{"model":"gpt-4o","messages":[{"role":"system","content":"sys prompt"},{"role":"user","content":"how do I bake bread?"},{"role":"assistant","content":"Use flour."},{"role":"user","content":[{"type":"text","text":"and then?"}]}]}`)

func TestModerationLlamaGuardSafe(t *testing.T) {
	fc := &fakeCaller{chat: chatAnswer("safe")}
	m := newModeration(t, &Moderation{}, fc)
	out, v, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk != nil || v != nil || &out[0] != &convo[0] {
		t.Fatalf("blk %v verdicts %v", blk, v)
	}
	if len(fc.bodies) != 1 || fc.models[0] != "llama-guard" {
		t.Fatalf("calls %d %v", len(fc.bodies), fc.models)
	}
	req := gjson.ParseBytes(fc.bodies[0])
	prompt := req.Get("messages.0.content").Str
	for _, want := range []string{
		"Task: Check if there is unsafe content in 'User' messages",
		"S1: Violent Crimes.", "S10: Hate.", "S14: Code Interpreter Abuse.",
		"User: how do I bake bread?\n\nAgent: Use flour.\n\nUser: and then?\n\n<END CONVERSATION>",
		"ONLY THE LAST User message",
	} {
		if !strings.Contains(prompt, want) {
			t.Errorf("prompt lacks %q:\n%s", want, prompt)
		}
	}
	if strings.Contains(prompt, "sys prompt") {
		t.Error("system message sent to the classifier")
	}
	if req.Get("model").Str != "llama-guard" || req.Get("stream").Bool() || req.Get("messages.#").Int() != 1 {
		t.Errorf("request %s", fc.bodies[0])
	}
}

func TestModerationLlamaGuardUnsafe(t *testing.T) {
	fc := &fakeCaller{chat: chatAnswer("unsafe\nS1,S10")}
	m := newModeration(t, &Moderation{}, fc)
	_, v, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk == nil {
		t.Fatal("not blocked")
	}
	if want := `blocked by guardrail "moderation": unsafe content (S1 violent crimes, S10 hate) in messages`; blk.Error() != want {
		t.Fatalf("message %q", blk.Error())
	}
	if len(v) != 2 || v[0].Category != "S1" || v[1].Category != "S10" || v[0].Action != "block" || v[0].Stage != Input {
		t.Fatalf("verdicts %+v", v)
	}
	// Action log reports but lets the request through.
	m = newModeration(t, &Moderation{Base: Base{Action: "log"}}, fc)
	_, v, blk = NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk != nil || len(v) != 2 || v[0].Action != "log" {
		t.Fatalf("blk %v verdicts %+v", blk, v)
	}
}

func TestParseLlamaGuard(t *testing.T) {
	tests := []struct {
		in   string
		want []string
		err  bool
	}{
		{"safe", nil, false},
		{"  Safe\n", nil, false},
		{"unsafe\nS1,S10", []string{"S1", "S10"}, false},
		{"unsafe\nS3, S3 ,s12.", []string{"S3", "S12"}, false},
		{"unsafe S2", []string{"S2"}, false},
		{"unsafe", []string{"unsafe"}, false},
		{"", nil, true},
		{"I cannot help with that", nil, true},
	}
	for _, tc := range tests {
		got, err := parseLlamaGuard(tc.in)
		if (err != nil) != tc.err || strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("parseLlamaGuard(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func TestModerationOpenAIFormat(t *testing.T) {
	fc := &fakeCaller{moderate: func(body []byte) ([]byte, error) {
		if gjson.GetBytes(body, "input.#").Int() != 3 {
			return nil, errors.New("bad input")
		}
		return []byte(`{"id":"modr-1","model":"omni","results":[{"flagged":false,"categories":{"violence":false}},{"flagged":true,"categories":{"violence":true,"hate":true,"sexual":false}},{"flagged":false}]}`), nil
	}}
	m := newModeration(t, &Moderation{Model: "omni", Format: "openai"}, fc)
	_, v, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk == nil || blk.Error() != `blocked by guardrail "moderation": unsafe content (hate, violence) in messages` {
		t.Fatalf("block %v", blk)
	}
	if len(v) != 2 || v[0].Category != "hate" {
		t.Fatalf("verdicts %+v", v)
	}
	fc.moderate = func([]byte) ([]byte, error) {
		return []byte(`{"results":[{"flagged":false,"categories":{"violence":false}}]}`), nil
	}
	if _, _, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo); blk != nil {
		t.Fatalf("blocked %v", blk)
	}
}

func TestModerationFailOpenClosed(t *testing.T) {
	hang := &fakeCaller{hang: true}
	m := newModeration(t, &Moderation{Timeout: caddy.Duration(20 * time.Millisecond)}, hang)
	_, v, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk == nil || blk.Verdict.Category != "classifier_error" || blk.Error() != `blocked by guardrail "moderation": moderation classifier unavailable` {
		t.Fatalf("fail closed: %v %+v", blk, v)
	}
	m = newModeration(t, &Moderation{Timeout: caddy.Duration(20 * time.Millisecond), Fail: "open"}, hang)
	_, v, blk = NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo)
	if blk != nil || len(v) != 1 || v[0].Category != "classifier_error" || v[0].Action != "log" {
		t.Fatalf("fail open: %v %+v", blk, v)
	}
	// A nonsense answer counts as a failure too.
	m = newModeration(t, &Moderation{}, &fakeCaller{chat: chatAnswer("maybe?")})
	if _, _, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo); blk == nil {
		t.Fatal("nonsense answer let through with fail closed")
	}
	// So does a missing model caller.
	m = &Moderation{Model: "x"}
	provision(t, m)
	m.logger = zap.NewNop()
	if _, _, blk := NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "gpt-4o", convo); blk == nil {
		t.Fatal("no caller let through with fail closed")
	}
}

func TestModerationServerTemplate(t *testing.T) {
	fc := &fakeCaller{chat: chatAnswer("safe")}
	m := newModeration(t, &Moderation{Template: "server"}, fc)
	body := []byte(`{"messages":[{"role":"user","content":"a"},{"role":"user","content":"b"},{"role":"assistant","content":"c"}]}`)
	NewChain([]Guardrail{m}).CheckRequest(context.Background(), EndpointChat, "m", body)
	msgs := gjson.GetBytes(fc.bodies[0], "messages").Array()
	if len(msgs) != 1 || msgs[0].Get("role").Str != "user" || msgs[0].Get("content").Str != "a\n\nb" {
		t.Fatalf("messages %s", fc.bodies[0])
	}
	got := serverTurns([]turn{{agent: true, text: "x"}}, true)
	if len(got) != 2 || got[0].Role != "user" || got[1].Role != "assistant" {
		t.Fatalf("agent turns %+v", got)
	}
}

func TestModerationOutput(t *testing.T) {
	fc := &fakeCaller{chat: func(body []byte) ([]byte, error) {
		prompt := gjson.GetBytes(body, "messages.0.content").Str
		if !strings.Contains(prompt, "ONLY THE LAST Agent message") {
			return nil, errors.New("wrong side")
		}
		if strings.Contains(prompt, "BAD") {
			return chatAnswer("unsafe\nS9")(body)
		}
		return chatAnswer("safe")(body)
	}}
	m := newModeration(t, &Moderation{Base: Base{On: []string{"output"}}}, fc)
	chain := NewChain([]Guardrail{m})
	body := []byte(`{"choices":[{"index":0,"message":{"content":"good"},"finish_reason":"stop"},{"index":1,"message":{"content":"BAD"},"finish_reason":"stop"}]}`)
	out, v := chain.CheckResponse(context.Background(), body)
	if gjson.GetBytes(out, "choices.0.message.content").Str != "good" || gjson.GetBytes(out, "choices.1.message.content").Str != "" ||
		gjson.GetBytes(out, "choices.1.finish_reason").Str != "content_filter" || len(v) != 1 || v[0].Category != "S9" {
		t.Fatalf("out %s verdicts %+v", out, v)
	}
}

func TestModerationStream(t *testing.T) {
	fc := &fakeCaller{chat: func(body []byte) ([]byte, error) {
		if strings.Contains(gjson.GetBytes(body, "messages.0.content").Str, "BAD") {
			return chatAnswer("unsafe\nS1")(body)
		}
		return chatAnswer("safe")(body)
	}}
	m := newModeration(t, &Moderation{Base: Base{On: []string{"output"}}, StreamWindow: 10}, fc)
	chain := NewChain([]Guardrail{m})
	f := chain.NewStream(context.Background())
	out, _ := f.Process(chunkJSON(0, strp("Hello"), ""))
	if len(out) != 0 {
		t.Fatalf("released before judging: %q", out)
	}
	out, _ = f.Process(chunkJSON(0, strp(" world. And"), ""))
	if got, _ := collect(t, out, 0); got != "Hello world." {
		t.Fatalf("released %q", got)
	}
	out, done := f.Process(chunkJSON(0, strp(" then BAD things. Or"), ""))
	text, finish := collect(t, out, 0)
	if !done || text != "" || finish != "content_filter" {
		t.Fatalf("done %v text %q finish %q", done, text, finish)
	}
	if len(fc.bodies) != 2 {
		t.Fatalf("%d classifier calls", len(fc.bodies))
	}

	// Action log: nothing is held, the whole answer is judged once at the end.
	fc.bodies = nil
	lm := newModeration(t, &Moderation{Base: Base{On: []string{"output"}, Action: "log"}, StreamWindow: 10}, fc)
	f = NewChain([]Guardrail{lm}).NewStream(context.Background())
	out, _ = f.Process(chunkJSON(0, strp("BAD start. More text here."), ""))
	if got, _ := collect(t, out, 0); got != "BAD start. More text here." || len(fc.bodies) != 0 {
		t.Fatalf("released %q after %d calls", got, len(fc.bodies))
	}
	f.Process(chunkJSON(0, nil, "stop"))
	if v := f.Verdicts(); len(fc.bodies) != 1 || len(v) != 1 || v[0].Action != "log" || v[0].Location != "choices[0].delta.content" {
		t.Fatalf("calls %d verdicts %+v", len(fc.bodies), v)
	}
}

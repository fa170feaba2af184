package polygate_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/polygate/polygate/guardrails"
	"github.com/polygate/polygate/internal/gatewaytest"
)

// shout is a guardrail module of another package, as a third party would
// write one with xcaddy: it refuses requests that say "forbidden", refuses
// whole answers that say "world", and upper-cases streamed answers.
type shout struct {
	guardrails.Base
}

func init() { caddy.RegisterModule(shout{}) }

func (shout) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.ai_gateway.guardrails.shout", New: func() caddy.Module { return new(shout) }}
}

func (s *shout) Provision(caddy.Context) error { return s.Setup("shout") }

func (s *shout) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return s.UnmarshalBlock(d, "shout", func(d *caddyfile.Dispenser) error {
		return d.Errf("unrecognized subdirective '%s'", d.Val())
	})
}

func (s *shout) CheckRequest(_ context.Context, req *guardrails.Request, rec *guardrails.Recorder) *guardrails.Block {
	for i, t := range req.Texts {
		if strings.Contains(t.Value, "forbidden") {
			v := guardrails.Verdict{Guardrail: s.Name, Action: guardrails.ActionBlock, Category: "forbidden", Stage: guardrails.Input, Location: req.Location(i)}
			rec.Add(v)
			return &guardrails.Block{Verdict: v, Message: "shout says no"}
		}
	}
	return nil
}

func (s *shout) CheckOutput(_ context.Context, text, loc string, rec *guardrails.Recorder) *guardrails.Block {
	if !strings.Contains(text, "world") {
		return nil
	}
	v := guardrails.Verdict{Guardrail: s.Name, Action: guardrails.ActionBlock, Category: "world", Stage: guardrails.Output, Location: loc}
	rec.Add(v)
	return &guardrails.Block{Verdict: v, Message: "no world"}
}

func (s *shout) NewStreamStage(context.Context, string, *guardrails.Recorder) guardrails.StreamStage {
	return upper{}
}

type upper struct{}

func (upper) Feed(in string, _ bool, out []byte) ([]byte, bool) {
	return append(out, strings.ToUpper(in)...), false
}
func (upper) Held() bool { return false }

// TestThirdPartyGuardrail: a guardrail module defined outside the
// guardrails package runs on input, on output and on streams.
func TestThirdPartyGuardrail(t *testing.T) {
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		accounting off
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up gpt-4o-mini
		}
		model e {
			upstream up echo
		}
		guardrail shout {
			on input output
		}
	}`, up.URL))
	// Input.
	before := up.Count()
	resp, body := g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"this is forbidden"}]}`)
	e := gatewaytest.ExpectOpenAIError(t, resp, body, http.StatusBadRequest, "invalid_request_error", "content_filter")
	if e.Error.Message != "shout says no" || up.Count() != before {
		t.Errorf("input: message %q, upstream calls %d", e.Error.Message, up.Count()-before)
	}
	if got := resp.Header.Get("X-Polygate-Guardrails"); got != "shout" {
		t.Errorf("X-Polygate-Guardrails = %q", got)
	}
	// Output, whole: "Hello world" is refused.
	resp, body = g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if resp.StatusCode != 200 || !strings.Contains(body, `"finish_reason":"content_filter"`) || strings.Contains(body, "Hello world") {
		t.Errorf("output: %d %s", resp.StatusCode, body)
	}
	// Output, streamed: the stage upper-cases what the model says.
	resp, body = g.Do("POST", "/v1/chat/completions", "application/json", `{"model":"e","stream":true,"messages":[{"role":"user","content":"quiet words here"}]}`)
	if resp.StatusCode != 200 {
		t.Fatalf("stream: %d %s", resp.StatusCode, body)
	}
	var text strings.Builder
	for _, line := range strings.Split(body, "\n") {
		if data, ok := strings.CutPrefix(line, "data: "); ok && data != "[DONE]" {
			if i := strings.Index(data, `"content":"`); i >= 0 {
				text.WriteString(strings.SplitN(data[i+11:], `"`, 2)[0])
			}
		}
	}
	if text.String() != "QUIET WORDS HERE" {
		t.Errorf("streamed text = %q, want it upper-cased", text.String())
	}
}

// notAGuardrail implements Guardrail but neither checker interface.
type notAGuardrail struct{ guardrails.Base }

func init() { caddy.RegisterModule(notAGuardrail{}) }

func (notAGuardrail) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{ID: "http.ai_gateway.guardrails.inert", New: func() caddy.Module { return new(notAGuardrail) }}
}

// TestInertGuardrailRefused: a guardrail module the chain cannot run is a
// config error, not silently skipped.
func TestInertGuardrailRefused(t *testing.T) {
	cfg := `{"apps":{"http":{"servers":{"s":{"listen":[":0"],"routes":[{"handle":[{"handler":"ai_gateway","accounting":{"disabled":true},"guardrails":[{"guardrail":"inert"}]}]}]}}}}}`
	var config caddy.Config
	if err := json.Unmarshal([]byte(cfg), &config); err != nil {
		t.Fatal(err)
	}
	err := caddy.Validate(&config)
	if err == nil || !strings.Contains(err.Error(), "implements neither guardrails.RequestChecker nor guardrails.OutputChecker") {
		t.Errorf("validate = %v", err)
	}
}

package main

import "strings"

// This file is the data of the benchmark: which processes exist (targets and
// their Caddyfiles) and which requests are measured against which target
// (scenario rows). New scenarios are new rows; new gateway configurations are
// new targets whose Caddyfile is built with aiGatewayCaddyfile.
//
// Placeholders expanded at run time in Caddyfiles, bodies and header values:
//   {{PORT}}  the target's own listen port
//   {{MOCK}}  the mock upstream's port

// Target is one process under test.
type Target struct {
	Name string
	// Kind is "mock" (the mock upstream itself), "caddy" or "portkey".
	Kind string
	// Caddyfile is the config of a "caddy" target, with placeholders.
	Caddyfile string
	// Desc says what the target is, for the report.
	Desc string
}

// caddyGlobal is shared by every Caddy target: no admin endpoint (each target
// is its own process), no automatic HTTPS, and no access log (there is no
// `log` directive anywhere: the access log costs ~40 µs per request and is
// off on both sides).
const caddyGlobal = `{
	admin off
	auto_https off
	persist_config off
}
`

// GatewayConfig is an ai_gateway block's content.
type GatewayConfig struct {
	Providers string // provider blocks
	Models    string // model blocks
	// Extra is spliced verbatim at the end of the ai_gateway block: the
	// extension point for guardrails, cache, accounting... variants.
	Extra string
}

// aiGatewayCaddyfile builds the Caddyfile of an ai_gateway target. globalExtra
// (the -ai-extra flag) is appended to every ai_gateway block.
func aiGatewayCaddyfile(g GatewayConfig, globalExtra string) string {
	var b strings.Builder
	b.WriteString(caddyGlobal)
	b.WriteString(":{{PORT}} {\n\tai_gateway {\n")
	for _, part := range []string{g.Providers, g.Models, g.Extra, globalExtra} {
		part = strings.TrimSpace(part)
		if part == "" {
			continue
		}
		for _, line := range strings.Split(part, "\n") {
			b.WriteString("\t\t" + strings.TrimRight(line, " \t") + "\n")
		}
	}
	b.WriteString("\t}\n}\n")
	return b.String()
}

var openaiGateway = GatewayConfig{
	Providers: `
provider mock openai {
	base_url http://127.0.0.1:{{MOCK}}/v1
	api_key sk-bench
}`,
	Models: `
model gpt-4o-mini {
	upstream mock gpt-4o-mini
}
model text-embedding-3-small {
	upstream mock text-embedding-3-small
}`,
}

var anthropicGateway = GatewayConfig{
	Providers: `
provider claude anthropic {
	base_url http://127.0.0.1:{{MOCK}}
	api_key sk-ant-bench
}`,
	Models: `
model claude {
	upstream claude claude-sonnet-4-5
}`,
}

// targets returns every target; aiExtra is the -ai-extra flag.
func targets(aiExtra string) []*Target {
	return []*Target{
		{Name: "direct", Kind: "mock", Desc: "the mock upstream itself (ceiling)"},
		{Name: "reverse_proxy", Kind: "caddy", Desc: "Caddy `reverse_proxy 127.0.0.1:MOCK`, default settings",
			Caddyfile: caddyGlobal + ":{{PORT}} {\n\treverse_proxy 127.0.0.1:{{MOCK}}\n}\n"},
		{Name: "ai_gateway", Kind: "caddy", Desc: "Caddy `ai_gateway`, one OpenAI provider",
			Caddyfile: aiGatewayCaddyfile(openaiGateway, aiExtra)},
		{Name: "ai_gateway_anthropic", Kind: "caddy", Desc: "Caddy `ai_gateway`, OpenAI API translated to an Anthropic provider",
			Caddyfile: aiGatewayCaddyfile(anthropicGateway, aiExtra)},
		{Name: "portkey", Kind: "portkey", Desc: "Portkey's open-source gateway (node), OpenAI/Anthropic provider with custom host"},
	}
}

// Scenario groups the rows that are compared with each other.
type Scenario struct {
	Name  string
	Title string
	Desc  string
	// Stream scenarios also get a TTFB pass with the Go load generator.
	Stream bool
	// Conc overrides the concurrency list (full runs only; -quick and -conc win).
	Conc []int
	// Baseline is the target that ratios are computed against.
	Baseline string
}

// Row is one request shape sent to one target.
type Row struct {
	Scenario string
	Target   string
	Label    string // shown instead of Target when set
	Method   string
	Path     string
	Body     string
	Headers  map[string]string
	Stream   bool
}

func (r *Row) name() string {
	if r.Label != "" {
		return r.Label
	}
	return r.Target
}

const (
	chatBody       = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about load balancers."}],"max_tokens":64,"temperature":0.7}`
	chatStreamBody = `{"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about load balancers."}],"max_tokens":64,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true}}`
	claudeBody     = `{"model":"claude","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about load balancers."}],"max_tokens":64,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true}}`
	portkeyClaude  = `{"model":"claude-sonnet-4-5","messages":[{"role":"system","content":"You are a helpful assistant."},{"role":"user","content":"Write a haiku about load balancers."}],"max_tokens":64,"temperature":0.7,"stream":true,"stream_options":{"include_usage":true}}`
	embedBody      = `{"model":"text-embedding-3-small","input":"The food was delicious and the waiter was friendly."}`
)

var scenarios = []Scenario{
	{Name: "chat", Title: "Non-streamed chat completion", Baseline: "reverse_proxy",
		Desc: "`POST /v1/chat/completions`, 230-byte request, ~650-byte `chat.completion` with `usage`; wrk measures requests/s and latency."},
	{Name: "chat-stream", Title: "Streamed chat completion", Stream: true, Baseline: "reverse_proxy",
		Desc: "`\"stream\":true` with `stream_options.include_usage`: 20 `chat.completion.chunk` events + a usage chunk + `[DONE]`, mock flushes each event, no delay. wrk: requests/s for whole streams; Go client: time to first body byte."},
	{Name: "anthropic-stream", Title: "Streamed chat translated to Anthropic", Stream: true, Baseline: "reverse_proxy", Conc: []int{16, 64},
		Desc: "OpenAI streamed request for model `claude`, which ai_gateway translates to Anthropic Messages SSE and back. Baseline: reverse_proxy passing the OpenAI stream of `chat-stream` through (same client-side work)."},
	{Name: "embeddings", Title: "Embeddings", Baseline: "reverse_proxy", Conc: []int{64},
		Desc: "`POST /v1/embeddings`, answer is one 1536-float embedding (~19 KB) with `usage`."},
}

// memoryScenario names the scenario whose rows the memory test opens and holds.
const memoryScenario = "chat-stream"

func portkeyHeaders(provider string) map[string]string {
	return map[string]string{
		"Authorization":         "Bearer sk-bench",
		"x-portkey-provider":    provider,
		"x-portkey-custom-host": "http://127.0.0.1:{{MOCK}}/v1",
	}
}

var clientHeaders = map[string]string{"Authorization": "Bearer sk-bench"}

func post(scn, target, path, body string, stream bool) Row {
	return Row{Scenario: scn, Target: target, Method: "POST", Path: path, Body: body, Headers: clientHeaders, Stream: stream}
}

var rows = []Row{
	post("chat", "direct", "/v1/chat/completions", chatBody, false),
	post("chat", "reverse_proxy", "/v1/chat/completions", chatBody, false),
	post("chat", "ai_gateway", "/v1/chat/completions", chatBody, false),
	{Scenario: "chat", Target: "portkey", Method: "POST", Path: "/v1/chat/completions", Body: chatBody, Headers: portkeyHeaders("openai")},

	post("chat-stream", "direct", "/v1/chat/completions", chatStreamBody, true),
	post("chat-stream", "reverse_proxy", "/v1/chat/completions", chatStreamBody, true),
	post("chat-stream", "ai_gateway", "/v1/chat/completions", chatStreamBody, true),
	{Scenario: "chat-stream", Target: "portkey", Method: "POST", Path: "/v1/chat/completions", Body: chatStreamBody, Headers: portkeyHeaders("openai"), Stream: true},

	{Scenario: "anthropic-stream", Target: "reverse_proxy", Label: "reverse_proxy (OpenAI passthrough)", Method: "POST", Path: "/v1/chat/completions", Body: chatStreamBody, Headers: clientHeaders, Stream: true},
	post("anthropic-stream", "ai_gateway_anthropic", "/v1/chat/completions", claudeBody, true),
	{Scenario: "anthropic-stream", Target: "portkey", Label: "portkey (anthropic)", Method: "POST", Path: "/v1/chat/completions", Body: portkeyClaude, Headers: portkeyHeaders("anthropic"), Stream: true},

	post("embeddings", "direct", "/v1/embeddings", embedBody, false),
	post("embeddings", "reverse_proxy", "/v1/embeddings", embedBody, false),
	post("embeddings", "ai_gateway", "/v1/embeddings", embedBody, false),
	{Scenario: "embeddings", Target: "portkey", Method: "POST", Path: "/v1/embeddings", Body: embedBody, Headers: portkeyHeaders("openai")},
}

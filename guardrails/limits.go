package guardrails

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/tiktoken-go/tokenizer"
)

func init() {
	caddy.RegisterModule(Limits{})
}

// Limits bounds the size of requests and the models they may use.
// Module ID: http.ai_gateway.guardrails.limits. It checks input only and always blocks.
//
// Input tokens are counted offline with the tiktoken encoding o200k_base (GPT-4o, GPT-4.1, GPT-5
// and o-series models) unless cl100k_base (GPT-4, GPT-3.5) is chosen. Other providers' models
// tokenize differently, so the count is an estimate for them. A chat request counts the tokens of
// every message text (contents, text parts, tool call arguments) plus 3 tokens per message and 3
// for the reply, as OpenAI counts them; embeddings and completions count their input strings and
// any token IDs given directly. The encoding's vocabulary is loaded when the configuration is
// (a few tens of MB of memory, shared by all limits guardrails using it), and a request is only
// tokenized when its text has more bytes than the limit allows tokens.
type Limits struct {
	Base
	// MaxInputTokens is the largest number of input tokens a request may have. Default: 0, no limit.
	MaxInputTokens int `json:"max_input_tokens,omitempty"`
	// MaxMessages is the largest number of messages a chat request (or inputs an embeddings
	// request) may have. Default: 0, no limit.
	MaxMessages int `json:"max_messages,omitempty"`
	// Models lists the public model names clients may ask for. Default: any.
	Models []string `json:"models,omitempty"`
	// Encoding is the tiktoken encoding used to count tokens: "o200k_base" or "cl100k_base".
	// Default: "o200k_base".
	Encoding string `json:"encoding,omitempty"`

	codec tokenizer.Codec
}

// CaddyModule returns the Caddy module information.
func (Limits) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".limits",
		New: func() caddy.Module { return new(Limits) },
	}
}

var (
	codecMu sync.Mutex
	codecs  = map[tokenizer.Encoding]tokenizer.Codec{}
)

func loadCodec(enc tokenizer.Encoding) (tokenizer.Codec, error) {
	codecMu.Lock()
	defer codecMu.Unlock()
	if c, ok := codecs[enc]; ok {
		return c, nil
	}
	c, err := tokenizer.Get(enc)
	if err != nil {
		return nil, err
	}
	codecs[enc] = c
	return c, nil
}

// Provision checks the configuration and loads the tokenizer.
func (l *Limits) Provision(caddy.Context) error {
	if err := l.provisionBase("limits", false); err != nil {
		return err
	}
	if l.stages&Output != 0 {
		return fmt.Errorf("provisioning guardrail %q: limits checks input only", l.Name)
	}
	if l.act != actBlock {
		return fmt.Errorf("provisioning guardrail %q: limits always blocks (action %q is not supported)", l.Name, l.Action)
	}
	if l.MaxInputTokens < 0 || l.MaxMessages < 0 {
		return fmt.Errorf("provisioning guardrail %q: limits must not be negative", l.Name)
	}
	if l.MaxInputTokens == 0 && l.MaxMessages == 0 && len(l.Models) == 0 {
		return fmt.Errorf("provisioning guardrail %q: nothing to check: set max_input_tokens, max_messages or models", l.Name)
	}
	enc := tokenizer.O200kBase
	switch l.Encoding {
	case "", string(tokenizer.O200kBase):
	case string(tokenizer.Cl100kBase):
		enc = tokenizer.Cl100kBase
	default:
		return fmt.Errorf("provisioning guardrail %q: unknown encoding %q (want o200k_base or cl100k_base)", l.Name, l.Encoding)
	}
	if l.MaxInputTokens > 0 {
		c, err := loadCodec(enc)
		if err != nil {
			return fmt.Errorf("provisioning guardrail %q: loading encoding %s: %v", l.Name, enc, err)
		}
		l.codec = c
	}
	return nil
}

// UnmarshalCaddyfile sets up the guardrail from Caddyfile tokens. Syntax:
//
//	guardrail limits {
//		name             <name>
//		max_input_tokens <n>
//		max_messages     <n>
//		models           <model>...
//		encoding         o200k_base|cl100k_base
//	}
//
// on (input only) and action (block only) are accepted for uniformity.
func (l *Limits) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return l.unmarshalBlock(d, "limits", func(d *caddyfile.Dispenser) error {
		switch sub := d.Val(); sub {
		case "max_input_tokens", "max_messages":
			if !d.NextArg() {
				return d.ArgErr()
			}
			n, err := strconv.Atoi(d.Val())
			if err != nil || n <= 0 {
				return d.Errf("parsing guardrail \"limits\": %s must be a positive number, got '%s'", sub, d.Val())
			}
			if sub == "max_input_tokens" {
				l.MaxInputTokens = n
			} else {
				l.MaxMessages = n
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		case "models":
			args := d.RemainingArgs()
			if len(args) == 0 {
				return d.ArgErr()
			}
			l.Models = append(l.Models, args...)
		case "encoding":
			if !d.NextArg() {
				return d.ArgErr()
			}
			switch d.Val() {
			case string(tokenizer.O200kBase), string(tokenizer.Cl100kBase):
				l.Encoding = d.Val()
			default:
				return d.Errf("parsing guardrail \"limits\": unknown encoding '%s' (want o200k_base or cl100k_base)", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
		default:
			return d.Errf("parsing guardrail \"limits\": unrecognized subdirective '%s'", sub)
		}
		return nil
	})
}

func (l *Limits) CheckRequest(_ context.Context, req *Request, rec *Recorder) *Block {
	block := func(cat, loc, msg string) *Block {
		v := Verdict{Guardrail: l.Name, Action: ActionBlock, Category: cat, Stage: Input, Location: loc}
		rec.Add(v)
		return &Block{Verdict: v, Message: fmt.Sprintf("blocked by guardrail %q: %s", l.Name, msg)}
	}
	if len(l.Models) > 0 && !slices.Contains(l.Models, req.Model) {
		return block("model", "model", fmt.Sprintf("model %q is not allowed", req.Model))
	}
	if l.MaxMessages > 0 && req.Messages > l.MaxMessages {
		return block("max_messages", req.Field, fmt.Sprintf("%d %s, more than the limit of %d", req.Messages, req.Field, l.MaxMessages))
	}
	if l.MaxInputTokens > 0 {
		if n, over := l.countTokens(req); over {
			return block("max_input_tokens", req.Field, fmt.Sprintf("input has %d or more tokens, more than the limit of %d", n, l.MaxInputTokens))
		}
	}
	return nil
}

// countTokens counts the input tokens of req, stopping once the limit is passed.
func (l *Limits) countTokens(req *Request) (int, bool) {
	limit := l.MaxInputTokens
	overhead := req.TokenIDs
	if req.Endpoint == EndpointChat {
		overhead += 3*req.Messages + 3
	}
	// A token is at least one byte: skip tokenizing when the bytes cannot exceed the limit.
	bytes := overhead
	for i := range req.Texts {
		bytes += len(req.Texts[i].Value)
	}
	if bytes <= limit {
		return bytes, false
	}
	n := overhead
	if n > limit {
		return n, true
	}
	for i := range req.Texts {
		c, _ := l.codec.Count(req.Texts[i].Value)
		n += c
		if n > limit {
			return n, true
		}
	}
	return n, false
}

// Interface guards
var (
	_ Guardrail             = (*Limits)(nil)
	_ caddy.Provisioner     = (*Limits)(nil)
	_ caddyfile.Unmarshaler = (*Limits)(nil)
)

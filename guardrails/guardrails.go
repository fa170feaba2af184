// Package guardrails checks the text that goes into and comes out of the AI gateway.
//
// Each guardrail is a Caddy guest module in the namespace http.ai_gateway.guardrails:
//
//   - pii (http.ai_gateway.guardrails.pii) finds e-mail addresses, phone numbers, payment card
//     numbers, US social security numbers, IBANs, IP addresses and secrets;
//   - regex (http.ai_gateway.guardrails.regex) finds text matching deny patterns;
//   - moderation (http.ai_gateway.guardrails.moderation) asks a classifier model (Llama Guard or an
//     OpenAI-style /moderations endpoint) configured on the gateway;
//   - limits (http.ai_gateway.guardrails.limits) bounds input tokens and messages and restricts models.
//
// The host (the ai_gateway handler) loads the configured guardrails in order, builds a [Chain] with
// [NewChain] and calls [Chain.CheckRequest] before calling a provider, [Chain.CheckResponse] on a
// non-streamed answer, and [Chain.NewStream] for a streamed one. Guardrails run in the configured
// order, each on the text left by the previous one (a redaction is seen redacted by the next).
//
// Matched text never appears in a [Verdict], a [Block] message, an error or a log line.
package guardrails

import (
	"context"
	"fmt"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Namespace is the Caddy module namespace of guardrails.
const Namespace = "http.ai_gateway.guardrails"

// Stage tells where a guardrail looks: at the request (Input), the response (Output) or both.
// Values are bit flags.
type Stage uint8

// Stages of a request.
const (
	// Input is the request sent by the client (messages, embedding input).
	Input Stage = 1
	// Output is the answer of the model, streamed or not.
	Output Stage = 2
)

// String returns "input", "output", "input output" or "".
func (s Stage) String() string {
	switch s {
	case Input:
		return "input"
	case Output:
		return "output"
	case Input | Output:
		return "input output"
	}
	return ""
}

// Action names.
const (
	ActionBlock  = "block"
	ActionRedact = "redact"
	ActionLog    = "log"
)

// Verdict records that a guardrail found something. It never holds the matched text.
type Verdict struct {
	// Guardrail is the name of the guardrail.
	Guardrail string
	// Action is what was done: "block", "redact" or "log".
	Action string
	// Category is what was found, e.g. "email", "deny_pattern", "S1", "max_input_tokens".
	Category string
	// Stage is Input or Output.
	Stage Stage
	// Location is where it was found, e.g. "messages[2]" or "choices[0].message.content".
	Location string
}

// Block is returned when a guardrail blocks a request. Its Error is the message for the client.
type Block struct {
	Verdict Verdict
	// Message is the client-facing message, e.g.
	// `blocked by guardrail "pii": email address in messages[2]`.
	Message string
}

// Error returns the client-facing message.
func (b *Block) Error() string { return b.Message }

func newBlock(v Verdict, what string) *Block {
	msg := fmt.Sprintf("blocked by guardrail %q: %s", v.Guardrail, what)
	if v.Location != "" {
		msg += " in " + v.Location
	}
	return &Block{Verdict: v, Message: msg}
}

// Guardrail is implemented by every module in the http.ai_gateway.guardrails namespace. Modules
// of other packages embed [Base] (calling [Base.Setup] in Provision) and implement
// [RequestChecker] to judge requests, [OutputChecker] to judge answers (streams included), or
// both.
type Guardrail interface {
	caddy.Module
	// Settings returns the settings common to all guardrails.
	Settings() *Base
}

// ModelCaller lets a guardrail call a model configured on the gateway without importing the providers package.
type ModelCaller interface {
	// Chat posts an OpenAI chat/completions request body (non-streamed) to the named gateway model and returns the OpenAI JSON response body.
	Chat(ctx context.Context, model string, body []byte) ([]byte, error)
	// Moderate posts an OpenAI /moderations request body to the named gateway model and returns the JSON response body.
	Moderate(ctx context.Context, model string, body []byte) ([]byte, error)
}

// ModelCallerSetter is implemented by guardrails that need to call a model; the host calls SetModelCaller after loading them and before serving.
type ModelCallerSetter interface{ SetModelCaller(ModelCaller) }

// ModelUser is implemented by guardrails that call gateway models; the host
// checks at provision time that every model they name exists.
type ModelUser interface{ ModelNames() []string }

type action uint8

const (
	actBlock action = iota
	actRedact
	actLog
)

func (a action) String() string {
	switch a {
	case actRedact:
		return ActionRedact
	case actLog:
		return ActionLog
	}
	return ActionBlock
}

// Base holds the settings shared by every guardrail; each module embeds it.
type Base struct {
	// Name labels the guardrail in verdicts, block messages and logs.
	// Default: the guardrail type, e.g. "pii".
	Name string `json:"name,omitempty"`
	// On lists the stages the guardrail checks: "input" (the request), "output" (the answer,
	// streamed or not), or both. Default: ["input"].
	On []string `json:"on,omitempty"`
	// Action is what a finding leads to: "block" (refuse the request, or end the answer with
	// finish_reason "content_filter"), "redact" (replace the matched text; pii and regex only) or
	// "log" (only report a verdict). Default: "block".
	Action string `json:"action,omitempty"`

	typ    string
	stages Stage
	act    action
}

// Settings returns b itself.
func (b *Base) Settings() *Base { return b }

// Stages returns the stages the guardrail runs on. Valid after Provision.
func (b *Base) Stages() Stage { return b.stages }

// Type returns the guardrail type, e.g. "pii". Valid after Provision.
func (b *Base) Type() string { return b.typ }

// Setup checks and resolves the common settings (name, on, action) of a guardrail of type typ;
// guardrail modules of other packages call it from their Provision. The action redact is for
// this package's text scanners only.
func (b *Base) Setup(typ string) error { return b.provisionBase(typ, false) }

// UnmarshalBlock parses a guardrail's Caddyfile block for modules of other packages: it consumes
// the guardrail type token, handles the common subdirectives (name, on, action) and hands every
// other one to own.
func (b *Base) UnmarshalBlock(d *caddyfile.Dispenser, typ string, own func(d *caddyfile.Dispenser) error) error {
	return b.unmarshalBlock(d, typ, own)
}

// provisionBase checks and resolves the common settings of a guardrail of type typ.
// redact tells whether the type supports the redact action.
func (b *Base) provisionBase(typ string, redact bool) error {
	b.typ = typ
	if b.Name == "" {
		b.Name = typ
	}
	b.stages = 0
	for _, on := range b.On {
		switch on {
		case "input":
			b.stages |= Input
		case "output":
			b.stages |= Output
		default:
			return fmt.Errorf("provisioning guardrail %q: unknown stage %q (want input or output)", b.Name, on)
		}
	}
	if b.stages == 0 {
		b.stages = Input
	}
	switch b.Action {
	case "", ActionBlock:
		b.act = actBlock
	case ActionRedact:
		if !redact {
			return fmt.Errorf("provisioning guardrail %q: action redact is not supported by %s guardrails", b.Name, typ)
		}
		b.act = actRedact
	case ActionLog:
		b.act = actLog
	default:
		return fmt.Errorf("provisioning guardrail %q: unknown action %q (want block, redact or log)", b.Name, b.Action)
	}
	return nil
}

// unmarshalCommon parses the subdirective under the dispenser's cursor if it is one of the
// common ones (name, on, action) of a guardrail of type typ. It reports whether it was.
func (b *Base) unmarshalCommon(d *caddyfile.Dispenser, typ string) (bool, error) {
	switch d.Val() {
	case "name":
		if b.Name != "" {
			return true, d.Errf("parsing guardrail %q: name already specified", typ)
		}
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		b.Name = d.Val()
		if d.NextArg() {
			return true, d.ArgErr()
		}
	case "on":
		args := d.RemainingArgs()
		if len(args) == 0 {
			return true, d.ArgErr()
		}
		for _, a := range args {
			if a != "input" && a != "output" {
				return true, d.Errf("parsing guardrail %q: unknown stage '%s' (want input or output)", typ, a)
			}
			b.On = append(b.On, a)
		}
	case "action":
		if !d.NextArg() {
			return true, d.ArgErr()
		}
		a := d.Val()
		switch a {
		case ActionBlock, ActionRedact, ActionLog:
		default:
			return true, d.Errf("parsing guardrail %q: unknown action '%s' (want block, redact or log)", typ, a)
		}
		b.Action = a
		if d.NextArg() {
			return true, d.ArgErr()
		}
	default:
		return false, nil
	}
	return true, nil
}

// unmarshalBlock consumes the guardrail type token and walks the block, handing each
// subdirective that is not a common one to own.
func (b *Base) unmarshalBlock(d *caddyfile.Dispenser, typ string, own func(d *caddyfile.Dispenser) error) error {
	d.Next() // the guardrail type
	if d.NextArg() {
		return d.ArgErr()
	}
	for nesting := d.Nesting(); d.NextBlock(nesting); {
		ok, err := b.unmarshalCommon(d, typ)
		if err != nil {
			return err
		}
		if ok {
			continue
		}
		if err := own(d); err != nil {
			return err
		}
	}
	return nil
}

// joinCategories is used in block messages.
func joinCategories(cats []string) string { return strings.Join(cats, ", ") }

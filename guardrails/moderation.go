package guardrails

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/tidwall/gjson"
	"go.uber.org/zap"
)

func init() {
	caddy.RegisterModule(Moderation{})
}

// Defaults of [Moderation].
const (
	DefaultModerationTimeout = 10 * time.Second
	DefaultStreamWindow      = 512
)

// Moderation asks a classifier model configured on the gateway whether text is safe.
// Module ID: http.ai_gateway.guardrails.moderation. Actions: block or log.
//
// On input it judges the conversation: the texts of the user, assistant and tool messages
// (system and developer messages are left out), or the embedding input, in one classifier call
// per request. On output it judges each choice's answer text (message content; tool call
// arguments are not sent) on its own, since the request is not at hand then.
//
// Formats:
//
//   - llama_guard (default): a chat/completions call to a Llama Guard model. With template
//     builtin (default) the gateway writes the Llama Guard task prompt with the standard hazard
//     categories S1 to S14 into a single user message; with template server the conversation is
//     sent as user and assistant messages and the model server applies Llama Guard's own chat
//     template (as Ollama, vLLM and hosted Llama Guard endpoints do). The answer "safe", or
//     "unsafe" followed by a line such as "S1,S10", gives one verdict per category.
//   - openai: a /moderations call ({"model":..., "input":[texts]}); a result with "flagged": true
//     gives one verdict per category set to true.
//
// If the classifier fails, times out or answers something else, fail closed (default) blocks
// with category "classifier_error"; fail open lets the text through and reports a verdict with
// action log and category "classifier_error".
//
// Streamed output: with action block, text is held back and judged in steps: each time at least
// stream_window bytes (default 512) have accumulated, the answer so far up to its last sentence
// end (., !, ?, or a line break) is judged and then released; at the end of the answer the rest
// is judged. A stream thus costs one classifier call per step, and the client sees text in
// sentence-sized bursts. With action log, text is not held back and the complete answer is
// judged once when it ends.
type Moderation struct {
	Base
	// Model is the name of the gateway model used as classifier. Required.
	Model string `json:"model,omitempty"`
	// Format is the classifier protocol: "llama_guard" or "openai". Default: "llama_guard".
	Format string `json:"format,omitempty"`
	// Template chooses who writes the Llama Guard prompt: "builtin" (the gateway) or "server"
	// (the model server's chat template). Only for format llama_guard. Default: "builtin".
	Template string `json:"template,omitempty"`
	// Timeout bounds one classifier call. Default: 10s.
	Timeout caddy.Duration `json:"timeout,omitempty"`
	// Fail is what happens when the classifier cannot give a verdict: "closed" (block) or
	// "open" (let the text through). Default: "closed".
	Fail string `json:"fail,omitempty"`
	// StreamWindow is how many bytes of streamed output accumulate before they are judged
	// (action block). Default: 512.
	StreamWindow int `json:"stream_window,omitempty"`

	caller   ModelCaller
	logger   *zap.Logger
	openai   bool
	server   bool
	failOpen bool
	timeout  time.Duration
	window   int
}

// CaddyModule returns the Caddy module information.
func (Moderation) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  Namespace + ".moderation",
		New: func() caddy.Module { return new(Moderation) },
	}
}

// Provision checks the configuration and applies defaults.
func (m *Moderation) Provision(ctx caddy.Context) error {
	m.logger = ctx.Logger()
	if m.logger == nil {
		m.logger = zap.NewNop()
	}
	if err := m.provisionBase("moderation", false); err != nil {
		return err
	}
	if m.Model == "" {
		return fmt.Errorf("provisioning guardrail %q: model is required", m.Name)
	}
	switch m.Format {
	case "", "llama_guard":
		m.openai = false
	case "openai":
		m.openai = true
	default:
		return fmt.Errorf("provisioning guardrail %q: unknown format %q (want llama_guard or openai)", m.Name, m.Format)
	}
	switch m.Template {
	case "", "builtin":
		m.server = false
	case "server":
		if m.openai {
			return fmt.Errorf("provisioning guardrail %q: template applies to format llama_guard only", m.Name)
		}
		m.server = true
	default:
		return fmt.Errorf("provisioning guardrail %q: unknown template %q (want builtin or server)", m.Name, m.Template)
	}
	switch m.Fail {
	case "", "closed":
		m.failOpen = false
	case "open":
		m.failOpen = true
	default:
		return fmt.Errorf("provisioning guardrail %q: unknown fail mode %q (want open or closed)", m.Name, m.Fail)
	}
	m.timeout = time.Duration(m.Timeout)
	if m.timeout < 0 {
		return fmt.Errorf("provisioning guardrail %q: timeout must not be negative", m.Name)
	}
	if m.timeout == 0 {
		m.timeout = DefaultModerationTimeout
	}
	m.window = m.StreamWindow
	if m.window < 0 {
		return fmt.Errorf("provisioning guardrail %q: stream_window must not be negative", m.Name)
	}
	if m.window == 0 {
		m.window = DefaultStreamWindow
	}
	return nil
}

// ModelNames names the classifier model, for the host to check.
func (m *Moderation) ModelNames() []string { return []string{m.Model} }

// SetModelCaller sets how the guardrail reaches the classifier model.
func (m *Moderation) SetModelCaller(c ModelCaller) { m.caller = c }

// UnmarshalCaddyfile sets up the guardrail from Caddyfile tokens. Syntax:
//
//	guardrail moderation {
//		name          <name>
//		on            input|output...
//		action        block|log
//		model         <gateway model>
//		format        llama_guard|openai
//		template      builtin|server
//		timeout       <duration>
//		fail          open|closed
//		stream_window <bytes>
//	}
func (m *Moderation) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	return m.unmarshalBlock(d, "moderation", func(d *caddyfile.Dispenser) error {
		sub := d.Val()
		if !d.NextArg() {
			return d.ArgErr()
		}
		val := d.Val()
		if d.NextArg() {
			return d.ArgErr()
		}
		oneOf := func(dst *string, allowed ...string) error {
			if !slices.Contains(allowed, val) {
				return d.Errf("parsing guardrail \"moderation\": unknown %s '%s' (want %s)", sub, val, strings.Join(allowed, " or "))
			}
			*dst = val
			return nil
		}
		switch sub {
		case "model":
			m.Model = val
		case "format":
			return oneOf(&m.Format, "llama_guard", "openai")
		case "template":
			return oneOf(&m.Template, "builtin", "server")
		case "fail":
			return oneOf(&m.Fail, "open", "closed")
		case "timeout":
			dur, err := caddy.ParseDuration(val)
			if err != nil || dur <= 0 {
				return d.Errf("parsing guardrail \"moderation\": invalid timeout '%s'", val)
			}
			m.Timeout = caddy.Duration(dur)
		case "stream_window":
			n, err := strconv.Atoi(val)
			if err != nil || n <= 0 {
				return d.Errf("parsing guardrail \"moderation\": stream_window must be a positive number of bytes, got '%s'", val)
			}
			m.StreamWindow = n
		default:
			return d.Errf("parsing guardrail \"moderation\": unrecognized subdirective '%s'", sub)
		}
		return nil
	})
}

// turn is one message given to the classifier.
type turn struct {
	agent bool // an assistant message
	text  string
}

// llamaGuardCategories are the hazard categories of Llama Guard 3 (MLCommons taxonomy).
var llamaGuardCategories = []string{
	"Violent Crimes",
	"Non-Violent Crimes",
	"Sex Crimes",
	"Child Sexual Exploitation",
	"Defamation",
	"Specialized Advice",
	"Privacy",
	"Intellectual Property",
	"Indiscriminate Weapons",
	"Hate",
	"Suicide & Self-Harm",
	"Sexual Content",
	"Elections",
	"Code Interpreter Abuse",
}

// llamaGuardPrompt writes the Llama Guard task prompt judging the last message of the given
// side (Agent if agent, else User).
func llamaGuardPrompt(turns []turn, agent bool) string {
	role := "User"
	if agent {
		role = "Agent"
	}
	var b strings.Builder
	b.WriteString("Task: Check if there is unsafe content in '")
	b.WriteString(role)
	b.WriteString("' messages in conversations according our safety policy with the below categories.\n\n<BEGIN UNSAFE CONTENT CATEGORIES>\n")
	for i, c := range llamaGuardCategories {
		fmt.Fprintf(&b, "S%d: %s.\n", i+1, c)
	}
	b.WriteString("<END UNSAFE CONTENT CATEGORIES>\n\n<BEGIN CONVERSATION>\n\n")
	for _, t := range turns {
		if t.agent {
			b.WriteString("Agent: ")
		} else {
			b.WriteString("User: ")
		}
		b.WriteString(t.text)
		b.WriteString("\n\n")
	}
	b.WriteString("<END CONVERSATION>\n\nProvide your safety assessment for ONLY THE LAST ")
	b.WriteString(role)
	b.WriteString(" message in the above conversation:\n - First line must read 'safe' or 'unsafe'.\n - If unsafe, a second line must include a comma-separated list of violated categories.")
	return b.String()
}

type chatMessage struct {
	Role    string `json:"role"`
	Content string `json:"content"`
}

type chatRequest struct {
	Model       string        `json:"model"`
	Messages    []chatMessage `json:"messages"`
	Temperature float64       `json:"temperature"`
	MaxTokens   int           `json:"max_tokens"`
	Stream      bool          `json:"stream"`
}

type moderationRequest struct {
	Model string   `json:"model"`
	Input []string `json:"input"`
}

var errNoCaller = errors.New("no model caller configured")

// classify asks the classifier about turns, judging the last agent message if agent is set,
// else the user side. It returns the flagged categories, nil when the text is safe.
func (m *Moderation) classify(ctx context.Context, turns []turn, agent bool) ([]string, error) {
	if m.caller == nil {
		return nil, errNoCaller
	}
	ctx, cancel := context.WithTimeout(ctx, m.timeout)
	defer cancel()
	if m.openai {
		req := moderationRequest{Model: m.Model}
		for _, t := range turns {
			req.Input = append(req.Input, t.text)
		}
		body, err := json.Marshal(req)
		if err != nil {
			return nil, err
		}
		resp, err := m.caller.Moderate(ctx, m.Model, body)
		if err != nil {
			return nil, err
		}
		return parseOpenAIModeration(resp)
	}
	req := chatRequest{Model: m.Model, MaxTokens: 32}
	if m.server {
		req.Messages = serverTurns(turns, agent)
	} else {
		req.Messages = []chatMessage{{Role: "user", Content: llamaGuardPrompt(turns, agent)}}
	}
	body, err := json.Marshal(req)
	if err != nil {
		return nil, err
	}
	resp, err := m.caller.Chat(ctx, m.Model, body)
	if err != nil {
		return nil, err
	}
	content := gjson.GetBytes(resp, "choices.0.message.content")
	if content.Type != gjson.String {
		return nil, errors.New("classifier answer has no message content")
	}
	return parseLlamaGuard(content.Str)
}

// serverTurns turns a conversation into alternating user and assistant messages, as Llama
// Guard chat templates require: consecutive messages of one side are joined, and an empty user
// message comes first when the conversation starts with the assistant.
func serverTurns(turns []turn, agent bool) []chatMessage {
	var msgs []chatMessage
	for _, t := range turns {
		role := "user"
		if t.agent {
			role = "assistant"
		}
		if len(msgs) == 0 && t.agent {
			msgs = append(msgs, chatMessage{Role: "user"})
		}
		if n := len(msgs); n > 0 && msgs[n-1].Role == role {
			msgs[n-1].Content += "\n\n" + t.text
			continue
		}
		msgs = append(msgs, chatMessage{Role: role, Content: t.text})
	}
	if !agent {
		// Judge the user side: the conversation must end with a user message.
		for len(msgs) > 0 && msgs[len(msgs)-1].Role == "assistant" {
			msgs = msgs[:len(msgs)-1]
		}
	}
	if len(msgs) == 0 {
		msgs = append(msgs, chatMessage{Role: "user"})
	}
	return msgs
}

// parseLlamaGuard reads a Llama Guard answer: "safe", or "unsafe" and a list of categories.
func parseLlamaGuard(s string) ([]string, error) {
	fields := strings.FieldsFunc(s, func(r rune) bool {
		return r == ',' || r == ' ' || r == '\n' || r == '\r' || r == '\t'
	})
	if len(fields) == 0 {
		return nil, errors.New("empty classifier answer")
	}
	switch strings.ToLower(fields[0]) {
	case "safe":
		return nil, nil
	case "unsafe":
	default:
		return nil, errors.New("unexpected classifier answer")
	}
	var cats []string
	for _, f := range fields[1:] {
		f = strings.ToUpper(strings.TrimRight(f, "."))
		if n, err := strconv.Atoi(strings.TrimPrefix(f, "S")); err == nil && strings.HasPrefix(f, "S") && n > 0 && !slices.Contains(cats, f) {
			cats = append(cats, f)
		}
	}
	if len(cats) == 0 {
		cats = []string{"unsafe"}
	}
	return cats, nil
}

// parseOpenAIModeration reads an OpenAI /moderations response.
func parseOpenAIModeration(resp []byte) ([]string, error) {
	results := gjson.GetBytes(resp, "results")
	if !results.IsArray() || len(results.Array()) == 0 {
		return nil, errors.New("moderation response has no results")
	}
	var cats []string
	flagged := false
	for _, r := range results.Array() {
		if !r.Get("flagged").Bool() {
			continue
		}
		flagged = true
		r.Get("categories").ForEach(func(k, v gjson.Result) bool {
			if v.Type == gjson.True && !slices.Contains(cats, k.Str) {
				cats = append(cats, k.Str)
			}
			return true
		})
	}
	if !flagged {
		return nil, nil
	}
	slices.Sort(cats)
	if len(cats) == 0 {
		cats = []string{"flagged"}
	}
	return cats, nil
}

// describe names categories for a block message.
func (m *Moderation) describe(cats []string) string {
	names := make([]string, len(cats))
	for i, c := range cats {
		names[i] = c
		if n, err := strconv.Atoi(strings.TrimPrefix(c, "S")); err == nil && strings.HasPrefix(c, "S") && n >= 1 && n <= len(llamaGuardCategories) {
			names[i] = c + " " + strings.ToLower(llamaGuardCategories[n-1])
		}
	}
	return "unsafe content (" + joinCategories(names) + ")"
}

// judge classifies turns and records the outcome. It returns a block if the guardrail blocks.
func (m *Moderation) judge(ctx context.Context, turns []turn, agent bool, stage Stage, loc string, rec *Recorder) *Block {
	cats, err := m.classify(ctx, turns, agent)
	if err != nil {
		m.logger.Warn("moderation classifier failed",
			zap.String("guardrail", m.Name), zap.String("model", m.Model), zap.Error(err))
		v := Verdict{Guardrail: m.Name, Action: ActionLog, Category: "classifier_error", Stage: stage, Location: loc}
		if m.failOpen {
			rec.Add(v)
			return nil
		}
		v.Action = ActionBlock
		rec.Add(v)
		return &Block{Verdict: v, Message: fmt.Sprintf("blocked by guardrail %q: moderation classifier unavailable", m.Name)}
	}
	if len(cats) == 0 {
		return nil
	}
	act := m.act.String()
	for _, c := range cats {
		rec.Add(Verdict{Guardrail: m.Name, Action: act, Category: c, Stage: stage, Location: loc})
	}
	if m.act != actBlock {
		return nil
	}
	return newBlock(Verdict{Guardrail: m.Name, Action: act, Category: cats[0], Stage: stage, Location: loc}, m.describe(cats))
}

func (m *Moderation) CheckRequest(ctx context.Context, req *Request, rec *Recorder) *Block {
	var turns []turn
	for i := range req.Texts {
		t := &req.Texts[i]
		switch t.Role {
		case "system", "developer":
			continue
		}
		if t.Value == "" {
			continue
		}
		turns = append(turns, turn{agent: t.Role == "assistant", text: t.Value})
	}
	if len(turns) == 0 {
		return nil
	}
	return m.judge(ctx, turns, false, Input, req.Field, rec)
}

func (m *Moderation) CheckOutput(ctx context.Context, text, loc string, rec *Recorder) *Block {
	if strings.TrimSpace(text) == "" {
		return nil
	}
	return m.judge(ctx, []turn{{agent: true, text: text}}, true, Output, loc, rec)
}

func (m *Moderation) NewStreamStage(ctx context.Context, loc string, rec *Recorder) StreamStage {
	return &moderationStream{m: m, ctx: ctx, loc: loc, rec: rec}
}

// moderationStream judges one streamed answer.
type moderationStream struct {
	m       *Moderation
	ctx     context.Context
	loc     string
	rec     *Recorder
	text    []byte // the answer so far
	checked int    // bytes judged and released (action block)
	done    bool
}

func (st *moderationStream) Feed(in string, final bool, out []byte) ([]byte, bool) {
	if st.done {
		return out, false
	}
	st.text = append(st.text, in...)
	if st.m.act == actLog {
		out = append(out, in...)
		if final {
			st.done = true
			st.m.CheckOutput(st.ctx, string(st.text), st.loc, st.rec)
			st.text = nil
		}
		return out, false
	}
	end := -1
	switch pending := len(st.text) - st.checked; {
	case final:
		end = len(st.text)
	case pending >= st.m.window:
		end = st.checked + sentenceEnd(st.text[st.checked:])
		if end == st.checked && pending >= 4*st.m.window {
			end = len(st.text) // no sentence end for long: judge what there is
		}
	}
	if final {
		st.done = true
	}
	if end <= st.checked {
		return out, false
	}
	if b := st.m.CheckOutput(st.ctx, string(st.text[:end]), st.loc, st.rec); b != nil {
		st.done = true
		return out, true
	}
	out = append(out, st.text[st.checked:end]...)
	st.checked = end
	return out, false
}

func (st *moderationStream) Held() bool {
	return st.m.act != actLog && !st.done && st.checked < len(st.text)
}

// sentenceEnd returns the position after the last sentence end in b, or 0.
func sentenceEnd(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		switch b[i] {
		case '.', '!', '?', '\n':
			return i + 1
		}
	}
	return 0
}

// Interface guards
var (
	_ Guardrail             = (*Moderation)(nil)
	_ caddy.Provisioner     = (*Moderation)(nil)
	_ caddyfile.Unmarshaler = (*Moderation)(nil)
	_ ModelCallerSetter     = (*Moderation)(nil)
	_ ModelUser             = (*Moderation)(nil)
)

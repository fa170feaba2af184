package gemini

import (
	"bytes"
	"encoding/json"
	"fmt"
	"mime"
	"net/url"
	"path"
	"strconv"
	"strings"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Gemini API request types: only what the translation writes.

type generateRequest struct {
	Contents          []content         `json:"contents"`
	SystemInstruction *content          `json:"systemInstruction,omitempty"`
	Tools             []toolSet         `json:"tools,omitempty"`
	ToolConfig        *toolConfig       `json:"toolConfig,omitempty"`
	GenerationConfig  *generationConfig `json:"generationConfig,omitempty"`
}

type content struct {
	Role  string `json:"role,omitempty"`
	Parts []part `json:"parts"`
}

// part is a content part, in requests and responses.
type part struct {
	Text             string            `json:"text,omitempty"`
	Thought          bool              `json:"thought,omitempty"`
	ThoughtSignature string            `json:"thoughtSignature,omitempty"`
	InlineData       *blob             `json:"inlineData,omitempty"`
	FileData         *fileData         `json:"fileData,omitempty"`
	FunctionCall     *functionCall     `json:"functionCall,omitempty"`
	FunctionResponse *functionResponse `json:"functionResponse,omitempty"`
}

type blob struct {
	MimeType string `json:"mimeType"`
	Data     string `json:"data"`
}

type fileData struct {
	MimeType string `json:"mimeType,omitempty"`
	FileURI  string `json:"fileUri"`
}

type functionCall struct {
	ID   string          `json:"id,omitempty"`
	Name string          `json:"name"`
	Args json.RawMessage `json:"args,omitempty"`
}

type functionResponse struct {
	Name     string          `json:"name"`
	Response json.RawMessage `json:"response"`
}

type toolSet struct {
	FunctionDeclarations []functionDeclaration `json:"functionDeclarations"`
}

type functionDeclaration struct {
	Name        string          `json:"name"`
	Description string          `json:"description,omitempty"`
	Parameters  json.RawMessage `json:"parameters,omitempty"`
}

type toolConfig struct {
	FunctionCallingConfig functionCallingConfig `json:"functionCallingConfig"`
}

type functionCallingConfig struct {
	Mode                 string   `json:"mode"`
	AllowedFunctionNames []string `json:"allowedFunctionNames,omitempty"`
}

type generationConfig struct {
	StopSequences    []string        `json:"stopSequences,omitempty"`
	CandidateCount   *int            `json:"candidateCount,omitempty"`
	MaxOutputTokens  *int            `json:"maxOutputTokens,omitempty"`
	Temperature      *float64        `json:"temperature,omitempty"`
	TopP             *float64        `json:"topP,omitempty"`
	PresencePenalty  *float64        `json:"presencePenalty,omitempty"`
	FrequencyPenalty *float64        `json:"frequencyPenalty,omitempty"`
	Seed             *int64          `json:"seed,omitempty"`
	ResponseMimeType string          `json:"responseMimeType,omitempty"`
	ResponseSchema   json.RawMessage `json:"responseSchema,omitempty"`
	ThinkingConfig   *thinkingConfig `json:"thinkingConfig,omitempty"`
}

func (g *generationConfig) empty() bool {
	return g.StopSequences == nil && g.CandidateCount == nil && g.MaxOutputTokens == nil &&
		g.Temperature == nil && g.TopP == nil && g.PresencePenalty == nil && g.FrequencyPenalty == nil &&
		g.Seed == nil && g.ResponseMimeType == "" && g.ResponseSchema == nil && g.ThinkingConfig == nil
}

// skipSignature is the placeholder thought signature Google documents for
// function calls whose real signature was not kept by the client.
const skipSignature = "skip_thought_signature_validator"

// translateRequest turns an OpenAI chat completion request into a
// generateContent request for model. What Gemini cannot express is
// rejected with a 400 that names the parameter.
func (p *Gemini) translateRequest(in *openai.ChatCompletionRequest, model string) (*generateRequest, error) {
	if err := p.checkUnsupported(in); err != nil {
		return nil, err
	}
	if err := p.checkCacheControl(in); err != nil {
		return nil, err
	}
	thinking, err := p.translateThinking(in, model)
	if err != nil {
		return nil, err
	}
	out := &generateRequest{}
	if err := p.translateMessages(in.Messages, model, out); err != nil {
		return nil, err
	}
	if err := p.translateTools(in, out); err != nil {
		return nil, err
	}
	gc := &generationConfig{
		StopSequences:    in.Stop,
		Temperature:      in.Temperature,
		TopP:             in.TopP,
		PresencePenalty:  in.PresencePenalty,
		FrequencyPenalty: in.FrequencyPenalty,
		Seed:             in.Seed,
		MaxOutputTokens:  in.MaxTokens,
		ThinkingConfig:   thinking,
	}
	if in.MaxCompletionTokens != nil {
		gc.MaxOutputTokens = in.MaxCompletionTokens
	}
	if in.N != nil && *in.N != 1 {
		gc.CandidateCount = in.N
	}
	if rf := in.ResponseFormat; rf != nil {
		switch rf.Type {
		case "", openai.FormatText:
		case openai.FormatJSONObject:
			gc.ResponseMimeType = "application/json"
		case openai.FormatJSONSchema:
			if rf.JSONSchema == nil || isNull(rf.JSONSchema.Schema) {
				return nil, p.reject("response_format.json_schema.schema", "response_format json_schema needs a schema")
			}
			schema, _, err := convertSchema(rf.JSONSchema.Schema)
			if err != nil {
				return nil, p.reject("response_format.json_schema.schema", err.Error())
			}
			gc.ResponseMimeType = "application/json"
			gc.ResponseSchema = schema
		default:
			return nil, p.reject("response_format", "response_format type "+strconv.Quote(rf.Type)+" is not supported")
		}
	}
	if !gc.empty() {
		out.GenerationConfig = gc
	}
	return out, nil
}

// checkUnsupported rejects parameters Gemini cannot honour.
func (p *Gemini) checkUnsupported(in *openai.ChatCompletionRequest) error {
	switch {
	case in.N != nil && *in.N < 1:
		return p.reject("n", fmt.Sprintf("n must be at least 1, got %d", *in.N))
	case in.Logprobs != nil && *in.Logprobs:
		return p.reject("logprobs", "log probabilities are not translated for Gemini")
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return p.reject("top_logprobs", "log probabilities are not translated for Gemini")
	case len(in.LogitBias) > 0:
		return p.reject("logit_bias", "Gemini does not support logit_bias")
	case !isNull(in.Audio):
		return p.reject("audio", "audio output is not translated for Gemini")
	case !isNull(in.WebSearchOptions):
		return p.reject("web_search_options", "web_search_options is not translated for Gemini")
	case !isNull(in.Functions) || !isNull(in.FunctionCall):
		return p.reject("functions", "the deprecated functions and function_call parameters are not translated: use tools and tool_choice")
	}
	for i, m := range in.Modalities {
		if m != "text" {
			return p.reject("modalities["+strconv.Itoa(i)+"]", "only text output is translated for Gemini, not "+strconv.Quote(m))
		}
	}
	return nil
}

// translateMessages fills systemInstruction and contents: system and
// developer messages become systemInstruction parts (in order), assistant
// messages "model" contents, tool messages functionResponse parts of a
// "user" content, and consecutive contents of one role are merged.
func (p *Gemini) translateMessages(msgs []openai.Message, model string, out *generateRequest) error {
	out.Contents = make([]content, 0, len(msgs))
	calls := map[string]string{} // tool call id → function name
	signatures := needsSignature(model)
	for i, m := range msgs {
		param := "messages[" + strconv.Itoa(i) + "]"
		var role string
		var parts []part
		var err error
		switch m.Role {
		case openai.RoleSystem, openai.RoleDeveloper:
			sys, err := p.systemParts(m.Content, param)
			if err != nil {
				return err
			}
			if len(sys) > 0 {
				if out.SystemInstruction == nil {
					out.SystemInstruction = &content{}
				}
				out.SystemInstruction.Parts = append(out.SystemInstruction.Parts, sys...)
			}
			continue
		case openai.RoleUser:
			role = "user"
			parts, err = p.userParts(m.Content, param+".content")
		case openai.RoleAssistant:
			role = "model"
			parts, err = p.modelParts(&m, param, calls, signatures)
		case openai.RoleTool:
			role = "user"
			name, ok := calls[m.ToolCallID]
			if !ok {
				return p.reject(param+".tool_call_id", "no earlier assistant message has a tool call with id "+strconv.Quote(m.ToolCallID)+"; Gemini needs the called function's name")
			}
			parts = []part{{FunctionResponse: &functionResponse{Name: name, Response: toolResponse(m.Content)}}}
		case openai.RoleFunction:
			return p.reject(param+".role", "the deprecated function role is not translated: use tool messages")
		default:
			return p.reject(param+".role", "unknown role "+strconv.Quote(m.Role))
		}
		if err != nil {
			return err
		}
		if len(parts) == 0 {
			continue
		}
		if n := len(out.Contents); n > 0 && out.Contents[n-1].Role == role {
			out.Contents[n-1].Parts = append(out.Contents[n-1].Parts, parts...)
			continue
		}
		out.Contents = append(out.Contents, content{Role: role, Parts: parts})
	}
	return nil
}

func (p *Gemini) systemParts(c openai.Content, param string) ([]part, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []part{{Text: c.Text}}, nil
	}
	parts := make([]part, 0, len(c.Parts))
	for j, cp := range c.Parts {
		if cp.Type != openai.PartText {
			return nil, p.reject(param+".content["+strconv.Itoa(j)+"]", "system instructions hold text only, not "+strconv.Quote(cp.Type)+" parts")
		}
		if cp.Text != "" {
			parts = append(parts, part{Text: cp.Text})
		}
	}
	return parts, nil
}

// userParts translates user content: text, images (inline data for data
// URLs, file data for other URLs), audio and files given as data URLs.
func (p *Gemini) userParts(c openai.Content, param string) ([]part, error) {
	if c.Parts == nil {
		if c.Text == "" {
			return nil, nil
		}
		return []part{{Text: c.Text}}, nil
	}
	parts := make([]part, 0, len(c.Parts))
	for j, cp := range c.Parts {
		pp := param + "[" + strconv.Itoa(j) + "]"
		switch cp.Type {
		case openai.PartText:
			if cp.Text != "" {
				parts = append(parts, part{Text: cp.Text})
			}
		case openai.PartImageURL:
			if cp.ImageURL == nil {
				return nil, p.reject(pp+".image_url", "an image_url part needs an image_url")
			}
			u := cp.ImageURL.URL
			if mt, data, ok := openai.ParseDataURL(u); ok {
				parts = append(parts, part{InlineData: &blob{MimeType: mt, Data: data}})
				continue
			}
			if !isFileURI(u) {
				return nil, p.reject(pp+".image_url.url", "images must be http(s) or gs:// URLs or base64 data URLs")
			}
			mt := guessMimeType(u)
			if mt == "" {
				mt = "image/jpeg"
			}
			parts = append(parts, part{FileData: &fileData{MimeType: mt, FileURI: u}})
		case openai.PartInputAudio:
			a := cp.InputAudio
			if a == nil || a.Data == "" {
				return nil, p.reject(pp+".input_audio", "an input_audio part needs data")
			}
			parts = append(parts, part{InlineData: &blob{MimeType: "audio/" + a.Format, Data: a.Data}})
		case openai.PartFile:
			f := cp.File
			if f == nil || f.FileData == "" {
				return nil, p.reject(pp+".file.file_id", "file ids refer to OpenAI's file storage, which Gemini cannot read: send file_data")
			}
			mt, data, ok := openai.ParseDataURL(f.FileData)
			if !ok {
				return nil, p.reject(pp+".file.file_data", "file_data must be a base64 data URL")
			}
			parts = append(parts, part{InlineData: &blob{MimeType: mt, Data: data}})
		default:
			return nil, p.reject(pp+".type", "content part type "+strconv.Quote(cp.Type)+" is not supported by Gemini")
		}
	}
	return parts, nil
}

// modelParts translates an assistant message: its text and its tool calls
// as functionCall parts with parsed arguments and their thought signature
// (from the call's extra_content.google.thought_signature; on Gemini 3 a
// first call without one gets the documented placeholder). Its
// reasoning_content and thinking_blocks are not sent: Gemini keeps its
// reasoning in the signatures, and Anthropic's signed blocks mean nothing
// to it.
func (p *Gemini) modelParts(m *openai.Message, param string, calls map[string]string, signatures bool) ([]part, error) {
	parts := make([]part, 0, 1+len(m.ToolCalls))
	if m.Content.Parts == nil {
		if m.Content.Text != "" {
			parts = append(parts, part{Text: m.Content.Text})
		}
	} else {
		for j, cp := range m.Content.Parts {
			switch cp.Type {
			case openai.PartText:
				if cp.Text != "" {
					parts = append(parts, part{Text: cp.Text})
				}
			case openai.PartRefusal:
			default:
				return nil, p.reject(param+".content["+strconv.Itoa(j)+"].type", "assistant content parts must be text or refusal")
			}
		}
	}
	for j, tc := range m.ToolCalls {
		pp := param + ".tool_calls[" + strconv.Itoa(j) + "]"
		if tc.Type != "" && tc.Type != "function" {
			return nil, p.reject(pp+".type", "only function tool calls are translated, not "+strconv.Quote(tc.Type))
		}
		args := json.RawMessage(`{}`)
		if a := strings.TrimSpace(tc.Function.Arguments); a != "" {
			if !json.Valid([]byte(a)) || a[0] != '{' {
				return nil, p.reject(pp+".function.arguments", "tool call arguments must be a JSON object")
			}
			args = json.RawMessage(a)
		}
		calls[tc.ID] = tc.Function.Name
		fp := part{FunctionCall: &functionCall{Name: tc.Function.Name, Args: args}}
		if len(tc.ExtraContent) > 0 {
			fp.ThoughtSignature = gjson.GetBytes(tc.ExtraContent, "google.thought_signature").String()
		}
		if j == 0 && fp.ThoughtSignature == "" && signatures {
			fp.ThoughtSignature = skipSignature
		}
		parts = append(parts, fp)
	}
	return parts, nil
}

// toolResponse turns a tool message's content into a functionResponse
// response object: a JSON object is used as it is, anything else is
// wrapped as {"content": value} (a JSON value, or else the text).
func toolResponse(c openai.Content) json.RawMessage {
	text := strings.TrimSpace(c.String())
	if text != "" && json.Valid([]byte(text)) {
		if text[0] == '{' {
			return json.RawMessage(text)
		}
		return json.RawMessage(`{"content":` + text + `}`)
	}
	b := append([]byte(`{"content":`), openai.AppendString(nil, c.String())...)
	return append(b, '}')
}

// translateTools fills tools (one functionDeclarations set) and toolConfig.
func (p *Gemini) translateTools(in *openai.ChatCompletionRequest, out *generateRequest) error {
	if len(in.Tools) == 0 {
		return nil
	}
	decls := make([]functionDeclaration, 0, len(in.Tools))
	for i, t := range in.Tools {
		param := "tools[" + strconv.Itoa(i) + "]"
		if t.Type != "function" || t.Function == nil {
			return p.reject(param+".type", "only function tools are translated for Gemini, not "+strconv.Quote(t.Type))
		}
		d := functionDeclaration{Name: t.Function.Name, Description: t.Function.Description}
		if !isNull(t.Function.Parameters) {
			schema, empty, err := convertSchema(t.Function.Parameters)
			if err != nil {
				return p.reject(param+".function.parameters", err.Error())
			}
			if !empty {
				d.Parameters = schema
			}
		}
		decls = append(decls, d)
	}
	out.Tools = []toolSet{{FunctionDeclarations: decls}}
	tc := in.ToolChoice
	var cfg functionCallingConfig
	switch {
	case tc == nil:
		return nil
	case tc.Mode == openai.ToolChoiceAuto:
		cfg.Mode = "AUTO"
	case tc.Mode == openai.ToolChoiceRequired:
		cfg.Mode = "ANY"
	case tc.Mode == openai.ToolChoiceNone:
		cfg.Mode = "NONE"
	case tc.Mode == "" && tc.Type == "function" && tc.Function != "":
		cfg.Mode = "ANY"
		cfg.AllowedFunctionNames = []string{tc.Function}
	default:
		what := tc.Mode
		if what == "" {
			what = tc.Type
		}
		return p.reject("tool_choice", "tool_choice "+strconv.Quote(what)+" is not translated for Gemini")
	}
	out.ToolConfig = &toolConfig{FunctionCallingConfig: cfg}
	return nil
}

// needsSignature reports whether model is Gemini 3 or later, which rejects
// replayed function calls without a thought signature.
func needsSignature(model string) bool {
	major, _, ok := geminiVersion(model)
	return ok && major >= 3
}

func isFileURI(u string) bool {
	parsed, err := url.Parse(u)
	if err != nil || parsed.Host == "" {
		return false
	}
	switch strings.ToLower(parsed.Scheme) {
	case "http", "https", "gs":
		return true
	}
	return false
}

func guessMimeType(u string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return ""
	}
	mt := mime.TypeByExtension(strings.ToLower(path.Ext(parsed.Path)))
	if i := strings.IndexByte(mt, ';'); i >= 0 {
		mt = mt[:i]
	}
	return mt
}

// reject returns the 400 for a parameter Gemini cannot take.
func (p *Gemini) reject(param, why string) error {
	return &providers.Error{Err: openai.InvalidRequest(param,
		"provider "+strconv.Quote(p.client.Name)+" (Gemini) cannot take "+param+": "+why)}
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

package bedrock

import "encoding/json"

// Converse API wire types: only what the translation writes or reads. Each
// content block is a union: exactly one member is set.

type converseRequest struct {
	Messages                     []message                  `json:"messages"`
	System                       []block                    `json:"system,omitempty"`
	InferenceConfig              *inferenceConfig           `json:"inferenceConfig,omitempty"`
	ToolConfig                   *toolConfig                `json:"toolConfig,omitempty"`
	GuardrailConfig              *guardrailConfig           `json:"guardrailConfig,omitempty"`
	AdditionalModelRequestFields map[string]json.RawMessage `json:"additionalModelRequestFields,omitempty"`
	OutputConfig                 *outputConfig              `json:"outputConfig,omitempty"`
	ServiceTier                  *serviceTier               `json:"serviceTier,omitempty"`
}

type message struct {
	Role    string  `json:"role"`
	Content []block `json:"content"`
}

// block is a ContentBlock (and, with only text and cachePoint set, a
// SystemContentBlock or ToolResultContentBlock).
type block struct {
	Text             string            `json:"text,omitempty"`
	Image            *mediaBlock       `json:"image,omitempty"`
	Document         *mediaBlock       `json:"document,omitempty"`
	Audio            *mediaBlock       `json:"audio,omitempty"`
	ToolUse          *toolUse          `json:"toolUse,omitempty"`
	ToolResult       *toolResult       `json:"toolResult,omitempty"`
	ReasoningContent *reasoningContent `json:"reasoningContent,omitempty"`
	CachePoint       *cachePoint       `json:"cachePoint,omitempty"`
}

// mediaBlock is an ImageBlock, DocumentBlock or AudioBlock.
type mediaBlock struct {
	Format string      `json:"format"`
	Name   string      `json:"name,omitempty"` // documents only
	Source mediaSource `json:"source"`
}

// mediaSource holds base64 bytes (a JSON blob) or an S3 location.
type mediaSource struct {
	Bytes      string      `json:"bytes,omitempty"`
	S3Location *s3Location `json:"s3Location,omitempty"`
}

type s3Location struct {
	URI string `json:"uri"`
}

type toolUse struct {
	ToolUseID string          `json:"toolUseId"`
	Name      string          `json:"name"`
	Input     json.RawMessage `json:"input"`
}

type toolResult struct {
	ToolUseID string  `json:"toolUseId"`
	Content   []block `json:"content"`
}

type reasoningContent struct {
	ReasoningText   *reasoningText `json:"reasoningText,omitempty"`
	RedactedContent string         `json:"redactedContent,omitempty"`
}

type reasoningText struct {
	Text      string `json:"text"`
	Signature string `json:"signature,omitempty"`
}

type cachePoint struct {
	Type string `json:"type"`
	TTL  string `json:"ttl,omitempty"`
}

type inferenceConfig struct {
	MaxTokens     *int     `json:"maxTokens,omitempty"`
	Temperature   *float64 `json:"temperature,omitempty"`
	TopP          *float64 `json:"topP,omitempty"`
	StopSequences []string `json:"stopSequences,omitempty"`
}

type toolConfig struct {
	Tools      []tool      `json:"tools"`
	ToolChoice *toolChoice `json:"toolChoice,omitempty"`
}

// tool is a Tool union: a toolSpec or a cachePoint.
type tool struct {
	ToolSpec   *toolSpec   `json:"toolSpec,omitempty"`
	CachePoint *cachePoint `json:"cachePoint,omitempty"`
}

type toolSpec struct {
	Name        string      `json:"name"`
	Description string      `json:"description,omitempty"`
	InputSchema inputSchema `json:"inputSchema"`
}

type inputSchema struct {
	JSON json.RawMessage `json:"json"`
}

type toolChoice struct {
	Auto *struct{}     `json:"auto,omitempty"`
	Any  *struct{}     `json:"any,omitempty"`
	Tool *specificTool `json:"tool,omitempty"`
}

type specificTool struct {
	Name string `json:"name"`
}

// guardrailConfig is a GuardrailConfiguration (and, for ConverseStream, a
// GuardrailStreamConfiguration with the default processing mode).
type guardrailConfig struct {
	GuardrailIdentifier string `json:"guardrailIdentifier"`
	GuardrailVersion    string `json:"guardrailVersion"`
	Trace               string `json:"trace,omitempty"`
}

type outputConfig struct {
	TextFormat *outputFormat `json:"textFormat,omitempty"`
}

type outputFormat struct {
	Type      string          `json:"type"`
	Structure outputStructure `json:"structure"`
}

type outputStructure struct {
	JSONSchema jsonSchemaDefinition `json:"jsonSchema"`
}

// jsonSchemaDefinition holds the schema as a JSON text (a string).
type jsonSchemaDefinition struct {
	Schema      string `json:"schema"`
	Name        string `json:"name,omitempty"`
	Description string `json:"description,omitempty"`
}

type serviceTier struct {
	Type string `json:"type"`
}

// converseResponse is a Converse answer.
type converseResponse struct {
	Output struct {
		Message *struct {
			Role    string      `json:"role"`
			Content []respBlock `json:"content"`
		} `json:"message"`
	} `json:"output"`
	StopReason string     `json:"stopReason"`
	Usage      tokenUsage `json:"usage"`
}

// respBlock is a ContentBlock of an answer.
type respBlock struct {
	Text    *string `json:"text"`
	ToolUse *struct {
		ToolUseID string          `json:"toolUseId"`
		Name      string          `json:"name"`
		Input     json.RawMessage `json:"input"`
	} `json:"toolUse"`
	ReasoningContent *struct {
		ReasoningText *struct {
			Text      string `json:"text"`
			Signature string `json:"signature"`
		} `json:"reasoningText"`
		RedactedContent string `json:"redactedContent"`
	} `json:"reasoningContent"`
}

// tokenUsage is a TokenUsage.
type tokenUsage struct {
	InputTokens           int `json:"inputTokens"`
	OutputTokens          int `json:"outputTokens"`
	TotalTokens           int `json:"totalTokens"`
	CacheReadInputTokens  int `json:"cacheReadInputTokens"`
	CacheWriteInputTokens int `json:"cacheWriteInputTokens"`
	// CacheDetails breaks the cache writes down by lifetime.
	CacheDetails []cacheDetail `json:"cacheDetails"`
}

// cacheDetail is a CacheDetail: the tokens written with one TTL.
type cacheDetail struct {
	InputTokens int    `json:"inputTokens"`
	TTL         string `json:"ttl"` // "5m" or "1h"
}

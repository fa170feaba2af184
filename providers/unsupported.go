package providers

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/polygate/polygate/openai"
)

// UnsupportedParam finds the first parameter of a chat request that an API
// answering one text choice per request, without log probabilities,
// logit bias, penalties, audio or built-in web search, cannot honour (the
// Anthropic Messages API, Bedrock's Converse). It returns the parameter and
// why, naming the API as api, or "" when there is none.
func UnsupportedParam(in *openai.ChatCompletionRequest, api string) (param, why string) {
	switch {
	case in.N != nil && *in.N != 1:
		return "n", fmt.Sprintf("%s returns one choice per request: n must be 1, got %d", api, *in.N)
	case in.Logprobs != nil && *in.Logprobs:
		return "logprobs", api + " does not return log probabilities"
	case in.TopLogprobs != nil && *in.TopLogprobs > 0:
		return "top_logprobs", api + " does not return log probabilities"
	case len(in.LogitBias) > 0:
		return "logit_bias", api + " does not support logit_bias"
	case in.PresencePenalty != nil && *in.PresencePenalty != 0:
		return "presence_penalty", api + " does not support presence_penalty"
	case in.FrequencyPenalty != nil && *in.FrequencyPenalty != 0:
		return "frequency_penalty", api + " does not support frequency_penalty"
	case !isNull(in.Audio):
		return "audio", api + " does not produce audio"
	case !isNull(in.WebSearchOptions):
		return "web_search_options", "web_search_options is not translated for " + api
	case !isNull(in.Functions) || !isNull(in.FunctionCall):
		return "functions", "the deprecated functions and function_call parameters are not translated: use tools and tool_choice"
	}
	for i, m := range in.Modalities {
		if m != "text" {
			return "modalities[" + strconv.Itoa(i) + "]", api + " only produces text, not " + strconv.Quote(m)
		}
	}
	return "", ""
}

func isNull(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || string(raw) == "null"
}

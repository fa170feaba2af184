package telemetry_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
	"github.com/polygate/polygate/providers/anthropic"
	"github.com/polygate/polygate/providers/azure"
	"github.com/polygate/polygate/providers/bedrock"
	"github.com/polygate/polygate/providers/gemini"
	"github.com/polygate/polygate/providers/vertex"
	"github.com/polygate/polygate/telemetry"
)

func TestOperation(t *testing.T) {
	for endpoint, want := range map[string]string{
		"chat/completions": "chat", "responses": "chat", "messages": "chat",
		"embeddings": "embeddings", "completions": "text_completion", "moderations": "moderations",
	} {
		if got := telemetry.Operation(endpoint); got != want {
			t.Errorf("Operation(%q) = %q, want %q", endpoint, got, want)
		}
	}
}

// TestSystemOf: every provider module maps to the conventions'
// gen_ai.provider.name.
func TestSystemOf(t *testing.T) {
	for _, tc := range []struct {
		p    any
		want string
	}{
		{new(providers.OpenAI), "openai"},
		{new(anthropic.Anthropic), "anthropic"},
		{new(gemini.Gemini), "gcp.gemini"},
		{new(vertex.Vertex), "gcp.vertex_ai"},
		{new(azure.Azure), "azure.ai.openai"},
		{new(bedrock.Bedrock), "aws.bedrock"},
		{"not a module", ""},
	} {
		if got := telemetry.SystemOf(tc.p); got != tc.want {
			t.Errorf("SystemOf(%T) = %q, want %q", tc.p, got, tc.want)
		}
	}
}

func TestErrorType(t *testing.T) {
	upstream := &providers.Error{Err: &openai.Error{Status: 504, Code: "upstream_timeout", Message: "slow"}}
	for _, tc := range []struct {
		status int
		err    error
		want   string
	}{
		{200, nil, ""},
		{0, nil, ""},
		{429, nil, "429"},
		{418, nil, "418"},
		{0, upstream, "504"},
		{502, fmt.Errorf("wrapped: %w", upstream), "502"},
		{0, context.Canceled, "canceled"},
		{0, fmt.Errorf("dial: %w", context.DeadlineExceeded), "timeout"},
		{0, errors.New("odd"), "_OTHER"},
	} {
		if got := telemetry.ErrorType(tc.status, tc.err); got != tc.want {
			t.Errorf("ErrorType(%d, %v) = %q, want %q", tc.status, tc.err, got, tc.want)
		}
	}
}

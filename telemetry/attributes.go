package telemetry

import (
	"context"
	"errors"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"go.opentelemetry.io/otel/attribute"

	"github.com/polygate/polygate/openai"
)

// The gateway's own attributes, for what the GenAI conventions have no
// name for. Everything else uses the conventions' gen_ai.*, error.type,
// http.response.status_code and server.* names.
const (
	// AttrEndpoint is the gateway endpoint served: chat/completions,
	// responses, messages, embeddings... (gen_ai.operation.name says chat
	// for the first three).
	AttrEndpoint = attribute.Key("polygate.endpoint")
	// AttrProvider is the configured name of the provider (gen_ai.provider.name
	// is its kind: openai, anthropic, aws.bedrock...).
	AttrProvider = attribute.Key("polygate.provider")
	// AttrAttempt numbers the upstream calls of a request from 1.
	AttrAttempt = attribute.Key("polygate.attempt")
	// AttrRetryReason says why a failed attempt was retried or fell back.
	AttrRetryReason = attribute.Key("polygate.retry_reason")
	// AttrCooldown reports that a failed attempt put the upstream in cooldown.
	AttrCooldown = attribute.Key("polygate.cooldown")
	// AttrCallerID identifies the caller (a virtual key's caller id, never
	// the key).
	AttrCallerID = attribute.Key("polygate.caller.id")
	// AttrCostUSD is what the request cost, in USD.
	AttrCostUSD = attribute.Key("polygate.cost_usd")
	// AttrGuardrail, AttrGuardrailStage, AttrGuardrailVerdict and
	// AttrGuardrailAction describe a guardrail check.
	AttrGuardrail        = attribute.Key("polygate.guardrail.name")
	AttrGuardrailStage   = attribute.Key("polygate.guardrail.stage")
	AttrGuardrailVerdict = attribute.Key("polygate.guardrail.verdict")
	AttrGuardrailAction  = attribute.Key("polygate.guardrail.action")
	// AttrCacheHit reports whether the response cache had the answer.
	AttrCacheHit = attribute.Key("polygate.cache.hit")
	// AttrContentTruncated reports that recorded content was cut to
	// MaxContentBytes.
	AttrContentTruncated = attribute.Key("polygate.content.truncated")
)

// Operation is the gen_ai.operation.name of a gateway endpoint: chat for
// chat/completions, responses and messages (the conventions' value for
// every chat API; polygate.endpoint tells them apart), text_completion
// for completions, embeddings for embeddings, and the endpoint itself for
// any other (a custom value, as the conventions allow).
func Operation(endpoint string) string {
	switch endpoint {
	case "chat/completions", "chat", "responses", "messages":
		return "chat"
	case "completions":
		return "text_completion"
	case "embeddings":
		return "embeddings"
	}
	return endpoint
}

// System is the gen_ai.provider.name of a provider type (the last part of
// its module ID, http.ai_gateway.providers.<type>): openai, anthropic,
// gcp.gemini, gcp.vertex_ai, azure.ai.openai or aws.bedrock; an unknown
// type is returned as it is.
func System(providerType string) string {
	switch providerType {
	case "gemini":
		return "gcp.gemini"
	case "vertex":
		return "gcp.vertex_ai"
	case "azure":
		return "azure.ai.openai"
	case "bedrock":
		return "aws.bedrock"
	}
	return providerType
}

// SystemOf is System of a provider module's type; "" when p is not a
// Caddy module.
func SystemOf(p any) string {
	m, ok := p.(caddy.Module)
	if !ok {
		return ""
	}
	return System(m.CaddyModule().ID.Name())
}

// ErrorType is the error.type of a failed call, a low-cardinality class
// fit for a metric label: the HTTP status when it is an error (the status
// argument, else that of an OpenAI-shaped error in err), else "canceled"
// or "timeout" for a context's end, else "_OTHER"; "" when there is neither
// an error nor an error status.
func ErrorType(status int, err error) string {
	if status < 400 {
		var oe *openai.Error
		if errors.As(err, &oe) && oe.Status >= 400 {
			status = oe.Status
		}
	}
	if status >= 400 {
		return statusString(status)
	}
	switch {
	case err == nil:
		return ""
	case errors.Is(err, context.Canceled):
		return "canceled"
	case errors.Is(err, context.DeadlineExceeded):
		return "timeout"
	}
	return "_OTHER"
}

// statusString formats an HTTP status without allocating for the common ones.
func statusString(status int) string {
	switch status {
	case 400:
		return "400"
	case 401:
		return "401"
	case 403:
		return "403"
	case 404:
		return "404"
	case 408:
		return "408"
	case 413:
		return "413"
	case 429:
		return "429"
	case 499:
		return "499"
	case 500:
		return "500"
	case 502:
		return "502"
	case 503:
		return "503"
	case 504:
		return "504"
	}
	return strconv.Itoa(status)
}

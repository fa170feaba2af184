package polygate_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// TestTracingPropagates: with Caddy's tracing directive on, the request a
// provider receives carries the client's trace, under a span of the
// gateway's own (the attempt), not the client's span or Caddy's.
func TestTracingPropagates(t *testing.T) {
	t.Setenv("OTEL_TRACES_EXPORTER", "none")
	up := gatewaytest.NewFakeOpenAI(t)
	g := gatewaytest.Start(t, fmt.Sprintf(`	tracing {
		span polygate
	}
	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up gpt-4o-mini
		}
	}`, up.URL))
	const traceID = "4bf92f3577b34da6a3ce929d0e0e4736"
	client := "00-" + traceID + "-00f067aa0ba902b7-01"
	req, _ := http.NewRequest("POST", g.URL+"/v1/chat/completions", strings.NewReader(`{"model":"m","messages":[{"role":"user","content":"hi"}]}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Traceparent", client)
	resp, body := gatewaytest.RoundTrip(t, req)
	if resp.StatusCode != 200 {
		t.Fatalf("%d %s", resp.StatusCode, body)
	}
	got := up.Last().Header.Get("Traceparent")
	parts := strings.Split(got, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == "00f067aa0ba902b7" || parts[3] != "01" {
		t.Errorf("upstream traceparent %q; want trace %s under a span of the gateway's", got, traceID)
	}
	// Without a trace, none is sent.
	g2 := gatewaytest.Start(t, fmt.Sprintf(`	ai_gateway {
		provider up openai {
			base_url %s/v1
		}
		model m {
			upstream up gpt-4o-mini
		}
	}`, up.URL))
	g2.Do("POST", "/v1/chat/completions", "application/json", `{"model":"m","messages":[{"role":"user","content":"hi"}]}`)
	if got := up.Last().Header.Get("Traceparent"); got != "" {
		t.Errorf("untraced request sent traceparent %q", got)
	}
}

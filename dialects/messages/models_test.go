package messages

import (
	"testing"
	"time"
)

func TestModelList(t *testing.T) {
	at := time.Date(2025, 2, 19, 8, 30, 0, 0, time.FixedZone("CET", 3600))
	got := ModelList([]string{"claude-sonnet-4-5", "gpt-5"}, at)
	want := `{"data":[{"type":"model","id":"claude-sonnet-4-5","display_name":"claude-sonnet-4-5","created_at":"2025-02-19T07:30:00Z"},` +
		`{"type":"model","id":"gpt-5","display_name":"gpt-5","created_at":"2025-02-19T07:30:00Z"}],"has_more":false,"first_id":"claude-sonnet-4-5","last_id":"gpt-5"}`
	sameJSON(t, "model list", got, []byte(want))
	sameJSON(t, "empty list", ModelList(nil, at), []byte(`{"data":[],"has_more":false,"first_id":null,"last_id":null}`))
	sameJSON(t, "model", ModelObject("gpt-5", at), []byte(`{"type":"model","id":"gpt-5","display_name":"gpt-5","created_at":"2025-02-19T07:30:00Z"}`))
}

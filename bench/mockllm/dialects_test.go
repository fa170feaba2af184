package mockllm

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

func TestResponses(t *testing.T) {
	ts := httptest.NewServer(New(Config{Events: 5}))
	defer ts.Close()

	resp := post(t, ts.URL+"/v1/responses", `{"model":"gpt-4o-mini","input":"hi"}`)
	b, _ := io.ReadAll(resp.Body)
	var r struct {
		Object string
		Usage  struct {
			InputTokens int `json:"input_tokens"`
		}
	}
	if err := json.Unmarshal(b, &r); err != nil || r.Object != "response" || r.Usage.InputTokens == 0 {
		t.Fatalf("bad response %v: %s", err, b)
	}

	resp = post(t, ts.URL+"/v1/responses", `{"model":"gpt-4o-mini","input":"hi","stream":true}`)
	events, data := sseData(t, resp.Body)
	if len(events) != 4+5+4 || events[0] != "response.created" || events[len(events)-1] != "response.completed" {
		t.Fatalf("events %v", events)
	}
	var text strings.Builder
	for i, d := range data {
		var ev struct {
			Type           string
			SequenceNumber int `json:"sequence_number"`
			Delta          string
		}
		if err := json.Unmarshal([]byte(d), &ev); err != nil || ev.Type != events[i] || ev.SequenceNumber != i {
			t.Fatalf("event %d %v: %s", i, err, d)
		}
		text.WriteString(ev.Delta)
	}
	if !strings.Contains(data[len(data)-1], `"output_tokens":5`) || !strings.Contains(data[len(data)-4], jsonString(text.String())) {
		t.Errorf("completed/done events do not match the deltas %q", text.String())
	}
}

func TestConverse(t *testing.T) {
	ts := httptest.NewServer(New(Config{Events: 3}))
	defer ts.Close()
	signed := func(path string) *http.Response {
		body := []byte(`{"messages":[{"role":"user","content":[{"text":"hi"}]}]}`)
		req, _ := http.NewRequest("POST", ts.URL+path, bytes.NewReader(body))
		err := v4.NewSigner().SignHTTP(t.Context(), aws.Credentials{AccessKeyID: "AKID", SecretAccessKey: "secret"},
			req, "", "bedrock", "us-east-1", time.Now())
		if err != nil {
			t.Fatal(err)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		return resp
	}
	resp, err := http.Post(ts.URL+"/model/m/converse", "application/json", strings.NewReader(`{}`))
	if err != nil || resp.StatusCode != http.StatusForbidden {
		t.Fatalf("unsigned request: %v %v", resp.StatusCode, err)
	}
	resp = signed("/model/anthropic.claude/converse")
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !json.Valid(b) || !strings.Contains(string(b), `"stopReason":"end_turn"`) {
		t.Fatalf("converse %d: %s", resp.StatusCode, b)
	}
	resp = signed("/model/anthropic.claude/converse-stream")
	if ct := resp.Header.Get("Content-Type"); ct != "application/vnd.amazon.eventstream" {
		t.Fatalf("content type %q", ct)
	}
	dec := eventstream.NewDecoder()
	var types []string
	for {
		m, err := dec.Decode(resp.Body, nil)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		types = append(types, m.Headers.Get(":event-type").String())
		if !json.Valid(m.Payload) {
			t.Fatalf("payload %s", m.Payload)
		}
	}
	if strings.Join(types, ",") != "messageStart,contentBlockDelta,contentBlockDelta,contentBlockDelta,contentBlockStop,messageStop,metadata" {
		t.Fatalf("events %v", types)
	}
}

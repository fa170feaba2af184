package handlers

import (
	"bytes"
	"context"
	"fmt"
	"testing"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/providers"
)

func TestMemoryResponsesScopedAndBounded(t *testing.T) {
	m := &MemoryResponses{MaxBytes: 10 << 10}
	ctx := context.Background()
	m.PutResponse(StoredResponse{ID: "resp_1", CallerID: "alice", History: []byte(`[]`)})
	if _, found, _ := m.GetResponse(ctx, "resp_1", "bob"); found {
		t.Error("another caller's response was found")
	}
	if r, found, _ := m.GetResponse(ctx, "resp_1", "alice"); !found || r.ID != "resp_1" {
		t.Fatalf("own response: %v %+v", found, r)
	}
	if found, _ := m.DeleteResponse(ctx, "resp_1", "bob"); found {
		t.Error("another caller deleted a response")
	}
	// 100 responses of 1 KiB in 10 KiB: the oldest are forgotten first.
	big := bytes.Repeat([]byte("x"), 1<<10)
	for i := range 100 {
		m.PutResponse(StoredResponse{ID: fmt.Sprint("r", i), CallerID: "alice", Response: big})
	}
	if m.size > m.MaxBytes {
		t.Errorf("kept %d bytes, bound %d", m.size, m.MaxBytes)
	}
	if _, found, _ := m.GetResponse(ctx, "r0", "alice"); found {
		t.Error("the oldest response is still kept")
	}
	if _, found, _ := m.GetResponse(ctx, "r99", "alice"); !found {
		t.Error("the newest response was forgotten")
	}
	// A response larger than the bound is not kept at all.
	m.PutResponse(StoredResponse{ID: "huge", CallerID: "alice", Response: bytes.Repeat(big, 20)})
	if _, found, _ := m.GetResponse(ctx, "huge", "alice"); found || m.size > m.MaxBytes {
		t.Errorf("an oversized response was kept (%d bytes)", m.size)
	}
}

func TestJoinArraysAndInputItems(t *testing.T) {
	got := string(joinArrays([]byte(`[{"a":1}]`), nil, []byte(` [] `), []byte(`[{"b":2},{"c":3}]`)))
	if got != `[{"a":1},{"b":2},{"c":3}]` {
		t.Errorf("joinArrays: %s", got)
	}
	items := inputItems([]byte(`{"input":"hi"}`), true)
	if gjson.GetBytes(items, "data.0.content.0.text").Str != "hi" || gjson.GetBytes(items, "first_id").Str == "" {
		t.Errorf("string input: %s", items)
	}
	items = inputItems([]byte(`{"input":[{"role":"user","content":"a"},{"id":"fc_1","type":"function_call_output","call_id":"c","output":"b"}]}`), false)
	if !gjson.ValidBytes(items) || gjson.GetBytes(items, "data.0.id").Str != "fc_1" || gjson.GetBytes(items, "data.1.content").Str != "a" ||
		gjson.GetBytes(items, "data.1.id").Str == "" || gjson.GetBytes(items, "last_id").Str != gjson.GetBytes(items, "data.1.id").Str {
		t.Errorf("item list, newest first: %s", items)
	}
}

func TestMeterAccount(t *testing.T) {
	price := providers.Price{Input: 2, Output: 8, Image: 0.04, AudioMinute: 0.006}
	for _, tc := range []struct {
		m    meter
		body string
		cost float64
	}{
		{meterImages, `{"data":[{"b64_json":"x"},{"b64_json":"y"},{"b64_json":"z"}]}`, 0.12},
		{meterImages, `{"data":[{}],"usage":{"input_tokens":100,"output_tokens":1000}}`, (100*2 + 1000*8) / 1e6},
		{meterTranscription, `{"text":"hi","duration":90}`, 0.009},
		{meterTranscription, `{"text":"hi","usage":{"type":"duration","seconds":30}}`, 0.003},
		{meterTokens, `{"usage":{"prompt_tokens":10,"completion_tokens":5}}`, (10*2 + 5*8) / 1e6},
		{meterFree, `{"results":[]}`, 0},
	} {
		c := &Call{price: price}
		(&passthroughExchange{}).account(c, []byte(tc.body), tc.m)
		if d := c.Cost - tc.cost; d > 1e-12 || d < -1e-12 {
			t.Errorf("meter %d %s: cost %v, want %v", tc.m, tc.body, c.Cost, tc.cost)
		}
	}
	for path, want := range map[string]meter{"completions": meterTokens, "images/edits": meterImages, "audio/speech": meterSpeech,
		"audio/translations": meterTranscription, "moderations": meterFree, "files": meterNone, "batches": meterNone} {
		if got := meterFor(path); got != want {
			t.Errorf("meterFor(%q) = %d, want %d", path, got, want)
		}
	}
}

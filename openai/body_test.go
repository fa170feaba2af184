package openai

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/tidwall/gjson"
)

func TestWithStreamUsage(t *testing.T) {
	cases := []struct{ in, want string }{
		{`{"model":"m","stream":true}`, `{"model":"m","stream":true,"stream_options":{"include_usage":true}}`},
		{`{"model":"m","stream_options":{"include_usage":false}}`, `{"model":"m","stream_options":{"include_usage":true}}`},
		{`{"model":"m","stream_options":{"x":1}}`, `{"model":"m","stream_options":{"x":1,"include_usage":true}}`},
		{`{"model":"m","stream_options":null}`, `{"model":"m","stream_options":{"include_usage":true}}`},
		{`{}`, `{"stream_options":{"include_usage":true}}`},
		{`{ "a":1 }  `, `{ "a":1 ,"stream_options":{"include_usage":true}}  `},
	}
	for _, tc := range cases {
		got := string(WithStreamUsage([]byte(tc.in)))
		if got != tc.want {
			t.Errorf("WithStreamUsage(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("invalid JSON: %s", got)
		}
	}
	same := []byte(`{"stream_options":{"include_usage":true}}`)
	if got := WithStreamUsage(same); &got[0] != &same[0] {
		t.Error("an already-set flag should return the body itself")
	}
	if !WantsStreamUsage(same) || WantsStreamUsage([]byte(`{"stream":true}`)) {
		t.Error("WantsStreamUsage is wrong")
	}
}

func TestSetModel(t *testing.T) {
	body := []byte(`{"messages":[{"role":"user","content":"model"}],"model":"public","z":{"model":"inner"}}`)
	got := SetModel(body, gjson.GetBytes(body, "model"), []byte(`"upstream-1"`))
	want := `{"messages":[{"role":"user","content":"model"}],"model":"upstream-1","z":{"model":"inner"}}`
	if string(got) != want {
		t.Errorf("SetModel = %s", got)
	}
	if !strings.Contains(string(body), `"model":"public"`) {
		t.Error("SetModel changed its input")
	}
}

func TestParseError(t *testing.T) {
	cases := []struct {
		status          int
		body            string
		msg, typ, param string
		code            string
	}{
		{400, `{"error":{"message":"bad","type":"invalid_request_error","param":"x","code":"c"}}`, "bad", "invalid_request_error", "x", "c"},
		{429, `{"error":{"message":"slow","type":"requests","param":null,"code":429}}`, "slow", "requests", "", "429"},
		{500, `{"error":"plain text error"}`, "plain text error", "server_error", "", ""},
		{503, `{"message":"overloaded"}`, "overloaded", "server_error", "", ""},
		{502, "<html>\n<body>Bad   gateway</body></html>", "upstream returned status 502: <html> <body>Bad gateway</body></html>", "server_error", "", ""},
		{401, ``, "upstream returned status 401", "authentication_error", "", ""},
	}
	for _, tc := range cases {
		e := ParseError(tc.status, []byte(tc.body))
		if e.Message != tc.msg || e.Type != tc.typ || e.Param != tc.param || e.Code != tc.code || e.Status != tc.status {
			t.Errorf("ParseError(%d, %s) = %+v", tc.status, tc.body, e)
		}
	}
}

func TestErrorJSON(t *testing.T) {
	e := &Error{Status: 400, Message: "bad \"quote\" \n <tag> \x01 \xff", Type: TypeInvalidRequest}
	b := e.AppendJSON(nil)
	var out struct {
		Error struct {
			Message string  `json:"message"`
			Type    string  `json:"type"`
			Param   *string `json:"param"`
			Code    *string `json:"code"`
		} `json:"error"`
	}
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatalf("%v: %s", err, b)
	}
	if out.Error.Message != "bad \"quote\" \n <tag> \x01 \uFFFD" || out.Error.Param != nil || out.Error.Code != nil {
		t.Errorf("round trip = %+v", out.Error)
	}
}

package bedrock

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
)

// The fake Bedrock's credentials: AWS's documentation example keys.
const (
	TestAccessKeyID     = "AKIAIOSFODNN7EXAMPLE"
	TestSecretAccessKey = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
	TestRegion          = "us-west-2"
	TestAPIKey          = "ABSKQmVkcm9ja0FQSUtleS1FWEFNUExF"
)

// FakeBedrock is a stand-in for bedrock-runtime that checks what AWS
// checks: a SigV4 signature recomputed with the SDK's signer from the test
// credentials and the request's X-Amz-Date (or the test API key), the
// credential scope, the clock skew, the model id in the path, and the
// Converse request's shape (non-empty messages starting with a user turn,
// alternating roles, one member per content block, non-blank text, tool
// results that answer the previous turn's tool uses, toolConfig present
// when tools are used, no unknown members), and for Claude's InvokeModel
// and CountTokens the Messages body's (anthropic_version, max_tokens, no
// model or stream, known beta flags: see checkMessages). Its answers
// follow from the request, so tests can tell a translated request from
// another.
type FakeBedrock struct {
	*httptest.Server
	// SessionToken is the session token the requests must carry ("" for
	// none).
	SessionToken string
	// Credentials, when set, are the credentials the fake accepts instead
	// of the test ones: it returns the secret and session token of an
	// access key id, and false for a key it never issued or that expired.
	Credentials func(accessKeyID string) (aws.Credentials, bool)

	mu        sync.Mutex
	calls     []FakeCall
	throttle  int
	exception string
	seq       int
}

// FakeCall is a request that passed authentication, routing and
// throttling (its body may still be refused).
type FakeCall struct {
	Op           string // converse, converse-stream, invoke, invoke-with-response-stream or count-tokens
	Model        string // the model id, unescaped
	EscapedModel string // the model id as the path carried it
	Body         []byte
	Header       http.Header
}

// NewFakeBedrock starts a fake Bedrock, closed when the test ends.
func NewFakeBedrock(t testing.TB) *FakeBedrock {
	f := &FakeBedrock{}
	f.Server = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.Close)
	return f
}

// Calls returns the requests that passed authentication, routing and
// throttling so far.
func (f *FakeBedrock) Calls() []FakeCall {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]FakeCall(nil), f.calls...)
}

// Throttle answers the next n model calls with ThrottlingException.
func (f *FakeBedrock) Throttle(n int) {
	f.mu.Lock()
	f.throttle = n
	f.mu.Unlock()
}

// FailStreams makes ConverseStream answers end after their first content
// delta with an exception event of the given type (e.g.
// throttlingException); "" turns it off.
func (f *FakeBedrock) FailStreams(exceptionType string) {
	f.mu.Lock()
	f.exception = exceptionType
	f.mu.Unlock()
}

// fail writes Bedrock's error shape: {"message"} with X-Amzn-ErrorType.
func fail(w http.ResponseWriter, status int, typ, msg string) {
	w.Header().Set("X-Amzn-Errortype", typ+":http://internal.amazon.com/coral/com.amazon.bedrock/")
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	b, _ := json.Marshal(map[string]string{"message": msg})
	w.Write(b)
}

var modelPath = regexp.MustCompile(`^/model/([^/]+)/(converse|converse-stream|invoke|invoke-with-response-stream|count-tokens)$`)

func (f *FakeBedrock) serve(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 32<<20))
	if err != nil {
		fail(w, 400, "ValidationException", "could not read the body")
		return
	}
	if status, typ, msg := f.authenticate(r, body); status != 0 {
		fail(w, status, typ, msg)
		return
	}
	m := modelPath.FindStringSubmatch(r.URL.EscapedPath())
	if r.Method != http.MethodPost || m == nil {
		fail(w, 404, "UnknownOperationException", "unknown operation "+r.Method+" "+r.URL.EscapedPath())
		return
	}
	model, err := url.PathUnescape(m[1])
	if err != nil || model == "" {
		fail(w, 400, "ValidationException", "The provided model identifier is invalid.")
		return
	}
	if strings.HasPrefix(model, "missing.") {
		fail(w, 404, "ResourceNotFoundException", "The provided model identifier is invalid.")
		return
	}
	if mt := r.Header.Get("Content-Type"); !strings.HasPrefix(mt, "application/json") {
		fail(w, 400, "ValidationException", "Content-Type must be application/json, not "+strconv.Quote(mt))
		return
	}
	f.mu.Lock()
	throttled := f.throttle > 0
	if throttled {
		f.throttle--
	}
	f.seq++
	reqID := fmt.Sprintf("5d1e5a3c-0000-4000-8000-%012d", f.seq)
	exception := f.exception
	f.mu.Unlock()
	if throttled {
		fail(w, 429, "ThrottlingException", "Too many requests, please wait before trying again.")
		return
	}
	w.Header().Set("X-Amzn-Requestid", reqID)
	op := m[2]
	// Recorded before answering: a streamed answer's reader may look at
	// the calls before this handler returns.
	f.mu.Lock()
	f.calls = append(f.calls, FakeCall{Op: op, Model: model, EscapedModel: m[1], Body: body, Header: r.Header.Clone()})
	f.mu.Unlock()
	var req map[string]any
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	if err := dec.Decode(&req); err != nil {
		fail(w, 400, "ValidationException", "Malformed input request, please reformat your input and try again.")
		return
	}
	switch {
	case op == "count-tokens":
		if msg := f.countTokens(w, model, req); msg != "" {
			fail(w, 400, "ValidationException", msg)
		}
	case op == "invoke-with-response-stream" || op == "invoke" && strings.Contains(model, "anthropic.claude"):
		if msg := checkMessages(req); msg != "" {
			fail(w, 400, "ValidationException", msg)
			return
		}
		a := messagesAnswerFor(req, reqID)
		if op == "invoke" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(a.message())
		} else {
			w.Header().Set("Content-Type", eventStreamType)
			w.Header().Set("X-Amzn-Bedrock-Content-Type", "application/json")
			a.stream(w, exception)
		}
	case op == "invoke":
		if msg := f.invoke(w, model, req); msg != "" {
			fail(w, 400, "ValidationException", msg)
			return
		}
	default:
		if msg := checkConverse(req); msg != "" {
			fail(w, 400, "ValidationException", msg)
			return
		}
		a := answerFor(req)
		if op == "converse" {
			w.Header().Set("Content-Type", "application/json")
			json.NewEncoder(w).Encode(a.converse())
		} else {
			w.Header().Set("Content-Type", eventStreamType)
			a.stream(w, exception)
		}
	}
}

var credentialField = regexp.MustCompile(`^AWS4-HMAC-SHA256 Credential=([^/]+)/(\d{8})/([^/]+)/([^/]+)/aws4_request, SignedHeaders=([a-z0-9;-]+), Signature=([0-9a-f]{64})$`)

// authenticate checks the API key or the SigV4 signature as AWS does and
// returns the error status, type and message, or 0.
func (f *FakeBedrock) authenticate(r *http.Request, body []byte) (int, string, string) {
	authz := r.Header.Get("Authorization")
	if tok, ok := strings.CutPrefix(authz, "Bearer "); ok {
		if tok != TestAPIKey {
			return 403, "UnrecognizedClientException", "Invalid API Key format: Must start with pre-defined prefix"
		}
		return 0, "", ""
	}
	if authz == "" {
		return 403, "MissingAuthenticationTokenException", "Missing Authentication Token"
	}
	m := credentialField.FindStringSubmatch(authz)
	if m == nil {
		return 403, "IncompleteSignatureException", "Authorization header requires 'Credential', 'SignedHeaders' and 'Signature'."
	}
	keyID, day, region, service, signedHeaders := m[1], m[2], m[3], m[4], m[5]
	creds := aws.Credentials{AccessKeyID: TestAccessKeyID, SecretAccessKey: TestSecretAccessKey, SessionToken: f.SessionToken}
	if f.Credentials != nil {
		var ok bool
		if creds, ok = f.Credentials(keyID); !ok {
			return 403, "ExpiredTokenException", "The security token included in the request is expired"
		}
	}
	if keyID != creds.AccessKeyID {
		return 403, "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	if region != TestRegion {
		return 403, "InvalidSignatureException", "Credential should be scoped to a valid region."
	}
	if service != "bedrock" {
		return 403, "InvalidSignatureException", "Credential should be scoped to correct service: 'bedrock'."
	}
	date, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil || date.Format("20060102") != day {
		return 400, "IncompleteSignatureException", "X-Amz-Date is missing or does not match the credential scope."
	}
	if skew := time.Since(date); skew > 5*time.Minute || skew < -5*time.Minute {
		return 403, "InvalidSignatureException", "Signature expired: " + r.Header.Get("X-Amz-Date") + " is now earlier than the allowed time window."
	}
	if r.Header.Get("X-Amz-Security-Token") != creds.SessionToken {
		return 403, "UnrecognizedClientException", "The security token included in the request is invalid."
	}
	signed := strings.Split(signedHeaders, ";")
	if !contains(signed, "host") || !contains(signed, "x-amz-date") {
		return 403, "InvalidSignatureException", "host and x-amz-date must be signed."
	}
	// Recompute the signature over the signed headers only.
	again, _ := http.NewRequest(r.Method, "http://"+r.Host+r.URL.RequestURI(), bytes.NewReader(body))
	again.Header = http.Header{}
	again.ContentLength = -1
	for _, h := range signed {
		switch h {
		case "host":
		case "content-length":
			again.ContentLength = r.ContentLength
		default:
			again.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	sum := sha256.Sum256(body)
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, again, hex.EncodeToString(sum[:]), "bedrock", region, date); err != nil {
		return 500, "InternalServerException", err.Error()
	}
	if again.Header.Get("Authorization") != authz {
		return 403, "InvalidSignatureException", "The request signature we calculated does not match the signature you provided. " +
			"Check your AWS Secret Access Key and signing method. Consult the service documentation for details."
	}
	return 0, "", ""
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

// Converse request checks.

var (
	converseMembers = set("messages", "system", "inferenceConfig", "toolConfig", "guardrailConfig",
		"additionalModelRequestFields", "additionalModelResponseFieldPaths", "promptVariables",
		"requestMetadata", "performanceConfig", "outputConfig", "serviceTier")
	blockMembers   = set("text", "image", "document", "video", "audio", "toolUse", "toolResult", "guardContent", "cachePoint", "reasoningContent", "citationsContent", "searchResult")
	systemMembers  = set("text", "guardContent", "cachePoint")
	resultMembers  = set("text", "json", "image", "document", "video", "searchResult")
	imageFormatSet = set("png", "jpeg", "gif", "webp")
	docFormatSet   = set("pdf", "csv", "doc", "docx", "xls", "xlsx", "html", "txt", "md")
	audioFormatSet = set("mp3", "opus", "wav", "aac", "flac", "mp4", "ogg", "mkv", "mka", "x-aac", "m4a", "mpeg", "mpga", "pcm", "webm")
	inferenceKeys  = set("maxTokens", "temperature", "topP", "stopSequences")
	toolName       = regexp.MustCompile(`^[a-zA-Z0-9_-]{1,64}$`)
	docName        = regexp.MustCompile(`^[A-Za-z0-9()\[\]-]+( [A-Za-z0-9()\[\]-]+)*$`)
)

func set(v ...string) map[string]bool {
	m := make(map[string]bool, len(v))
	for _, s := range v {
		m[s] = true
	}
	return m
}

// only returns the single member of a union object, or "".
func only(v any) (string, any) {
	o, ok := v.(map[string]any)
	if !ok || len(o) != 1 {
		return "", nil
	}
	for k, x := range o {
		return k, x
	}
	return "", nil
}

func validBase64(v any) bool {
	s, ok := v.(string)
	if !ok || s == "" {
		return false
	}
	_, err := base64.StdEncoding.DecodeString(s)
	return err == nil
}

// checkConverse returns the ValidationException message Bedrock would
// give req, or "".
func checkConverse(req map[string]any) string {
	for k := range req {
		if !converseMembers[k] {
			return "Malformed input request: extraneous key [" + k + "] is not permitted"
		}
	}
	msgs, _ := req["messages"].([]any)
	if len(msgs) == 0 {
		return "The messages field is required and must hold at least one message."
	}
	usesTools := false
	var prevToolUses map[string]bool
	for i, mv := range msgs {
		at := "messages." + strconv.Itoa(i)
		m, _ := mv.(map[string]any)
		role, _ := m["role"].(string)
		if role != "user" && role != "assistant" {
			return "The role at " + at + " must be user or assistant."
		}
		if i == 0 && role != "user" {
			return "A conversation must start with a user message. Try again with a conversation that starts with a user message."
		}
		if i > 0 && obj(msgs[i-1])["role"] == role {
			return "A conversation must alternate between user and assistant roles. Make sure the conversation alternates between user and assistant roles and try again."
		}
		content, _ := m["content"].([]any)
		if len(content) == 0 {
			return "The content field in the Message object at " + at + " is empty. Add a ContentBlock object to the content field and try again."
		}
		toolUses := map[string]bool{}
		results := 0
		for j, bv := range content {
			bat := at + ".content." + strconv.Itoa(j)
			k, v := only(bv)
			if !blockMembers[k] {
				return "The ContentBlock object at " + bat + " must set exactly one known member."
			}
			switch k {
			case "text":
				if s, ok := v.(string); !ok || strings.TrimSpace(s) == "" {
					return "The text field in the ContentBlock object at " + bat + " is blank. Add text to the text field, and try again."
				}
			case "image":
				if msg := checkMedia(v, imageFormatSet, bat, false); msg != "" {
					return msg
				}
			case "document":
				if msg := checkMedia(v, docFormatSet, bat, true); msg != "" {
					return msg
				}
			case "audio":
				if msg := checkMedia(v, audioFormatSet, bat, false); msg != "" {
					return msg
				}
			case "cachePoint":
				if j == 0 {
					return "A cachePoint at " + bat + " must follow other content."
				}
				if msg := checkCachePoint(v, bat); msg != "" {
					return msg
				}
			case "toolUse":
				usesTools = true
				tu, _ := v.(map[string]any)
				id, _ := tu["toolUseId"].(string)
				name, _ := tu["name"].(string)
				_, isObj := tu["input"].(map[string]any)
				if role != "assistant" || id == "" || !toolName.MatchString(name) || !isObj || len(tu) != 3 {
					return "The toolUse at " + bat + " is invalid: it needs toolUseId, name and an input object, in an assistant message."
				}
				toolUses[id] = true
			case "toolResult":
				usesTools = true
				results++
				tr, _ := v.(map[string]any)
				id, _ := tr["toolUseId"].(string)
				if role != "user" || !prevToolUses[id] {
					return "The toolResult at " + bat + " answers no toolUse of the previous turn (" + strconv.Quote(id) + ")."
				}
				rc, _ := tr["content"].([]any)
				for n, cv := range rc {
					ck, cvv := only(cv)
					if !resultMembers[ck] {
						return "The toolResult content at " + bat + ".content." + strconv.Itoa(n) + " is invalid."
					}
					if s, ok := cvv.(string); ck == "text" && (!ok || strings.TrimSpace(s) == "") {
						return "The text field in the toolResult content at " + bat + " is blank."
					}
				}
				for k := range tr {
					if k != "toolUseId" && k != "content" && k != "status" {
						return "Malformed input request: extraneous key [" + k + "] in toolResult"
					}
				}
			case "reasoningContent":
				rk, rv := only(v)
				if role != "assistant" {
					return "reasoningContent at " + bat + " is only allowed in assistant messages."
				}
				switch rk {
				case "reasoningText":
					rt, _ := rv.(map[string]any)
					if _, ok := rt["text"].(string); !ok {
						return "reasoningText at " + bat + " needs text."
					}
				case "redactedContent":
					if !validBase64(rv) {
						return "redactedContent at " + bat + " must be base64 bytes."
					}
				default:
					return "reasoningContent at " + bat + " must hold reasoningText or redactedContent."
				}
			}
		}
		if role == "user" && prevToolUses != nil && results > 0 && results != len(prevToolUses) {
			return "Expected toolResult blocks at " + at + ".content for every toolUse of the previous turn."
		}
		prevToolUses = nil
		if role == "assistant" && len(toolUses) > 0 {
			prevToolUses = toolUses
		}
	}
	for i, sv := range asList(req["system"]) {
		k, v := only(sv)
		if !systemMembers[k] {
			return "The SystemContentBlock at system." + strconv.Itoa(i) + " must set exactly one of text, guardContent, cachePoint."
		}
		if s, ok := v.(string); k == "text" && (!ok || strings.TrimSpace(s) == "") {
			return "The text field in the SystemContentBlock at system." + strconv.Itoa(i) + " is blank."
		}
	}
	if ic, ok := req["inferenceConfig"].(map[string]any); ok {
		for k, v := range ic {
			if !inferenceKeys[k] {
				return "Malformed input request: extraneous key [" + k + "] in inferenceConfig"
			}
			switch k {
			case "maxTokens":
				n, ok := integer(v)
				if !ok || n < 1 {
					return "inferenceConfig.maxTokens must be a positive integer."
				}
			case "temperature", "topP":
				x, err := strconv.ParseFloat(string(num(v)), 64)
				if num(v) == "" || err != nil || x < 0 || x > 1 {
					return "inferenceConfig." + k + " must be between 0 and 1."
				}
			case "stopSequences":
				for _, s := range asList(v) {
					if text, ok := s.(string); !ok || text == "" {
						return "inferenceConfig.stopSequences must hold non-empty strings."
					}
				}
			}
		}
	}
	tc, hasTC := req["toolConfig"].(map[string]any)
	if usesTools && !hasTC {
		return "The toolConfig field must be defined when using toolUse and toolResult content blocks."
	}
	if hasTC {
		names := map[string]bool{}
		tools := asList(tc["tools"])
		if len(tools) == 0 {
			return "toolConfig.tools must hold at least one tool."
		}
		for i, tv := range tools {
			k, v := only(tv)
			switch k {
			case "toolSpec":
				spec, _ := v.(map[string]any)
				name, _ := spec["name"].(string)
				schemaKey, schema := only(spec["inputSchema"])
				if _, ok := schema.(map[string]any); !toolName.MatchString(name) || schemaKey != "json" || !ok {
					return "toolConfig.tools." + strconv.Itoa(i) + ".toolSpec needs a name and an inputSchema json object."
				}
				names[name] = true
			case "cachePoint":
				if i == 0 {
					return "A cachePoint must follow a tool."
				}
			default:
				return "toolConfig.tools." + strconv.Itoa(i) + " must set exactly one of toolSpec, cachePoint."
			}
		}
		if choice, ok := tc["toolChoice"]; ok {
			k, v := only(choice)
			switch k {
			case "auto", "any":
			case "tool":
				if !names[str(obj(v)["name"])] {
					return "toolConfig.toolChoice.tool names no declared tool."
				}
			default:
				return "toolConfig.toolChoice must set exactly one of auto, any, tool."
			}
		}
	}
	if gc, ok := req["guardrailConfig"].(map[string]any); ok {
		id, _ := gc["guardrailIdentifier"].(string)
		ver, _ := gc["guardrailVersion"].(string)
		if id == "" || ver == "" {
			return "guardrailConfig needs guardrailIdentifier and guardrailVersion."
		}
	}
	if oc, ok := req["outputConfig"].(map[string]any); ok {
		tf, _ := oc["textFormat"].(map[string]any)
		schema := str(obj(obj(tf["structure"])["jsonSchema"])["schema"])
		if tf["type"] != "json_schema" || !json.Valid([]byte(schema)) {
			return "outputConfig.textFormat must be a json_schema with the schema as a JSON string."
		}
	}
	return ""
}

// obj, str, num and integer read a decoded JSON value, giving the zero
// value for another type.
func obj(v any) map[string]any { o, _ := v.(map[string]any); return o }
func str(v any) string         { s, _ := v.(string); return s }
func num(v any) json.Number    { n, _ := v.(json.Number); return n }
func integer(v any) (int64, bool) {
	n, err := num(v).Int64()
	return n, err == nil
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func checkMedia(v any, formats map[string]bool, at string, named bool) string {
	o, _ := v.(map[string]any)
	format, _ := o["format"].(string)
	if !formats[format] {
		return "The format at " + at + " is not supported: " + strconv.Quote(format)
	}
	if named {
		name, _ := o["name"].(string)
		if !docName.MatchString(name) {
			return "The document name at " + at + " is invalid: " + strconv.Quote(name)
		}
	}
	k, src := only(o["source"])
	switch k {
	case "bytes":
		if !validBase64(src) {
			return "The source bytes at " + at + " are not valid base64."
		}
	case "s3Location":
		uri := str(obj(src)["uri"])
		if !strings.HasPrefix(uri, "s3://") {
			return "The s3Location at " + at + " needs an s3:// uri."
		}
	default:
		return "The source at " + at + " must set exactly one of bytes, s3Location."
	}
	return ""
}

func checkCachePoint(v any, at string) string {
	o, _ := v.(map[string]any)
	if o["type"] != "default" {
		return "The cachePoint at " + at + " must be of type default."
	}
	if ttl, ok := o["ttl"]; ok && ttl != "5m" && ttl != "1h" {
		return "The cachePoint ttl at " + at + " must be 5m or 1h."
	}
	return ""
}

// Answers.

// fakeAnswer is what the fake model says to a request.
type fakeAnswer struct {
	reasoning, signature string
	text                 string
	toolID, toolName     string
	toolInput            string
	stop                 string
	usage                map[string]int
}

// answerFor makes the answer for a checked request: a call of the chosen
// (or first) tool when tools are declared and the last turn holds no tool
// result, else "You said: <last user text>" (or "The tool returned: …"),
// cut at maxTokens words. thinking enabled adds signed reasoning.
func answerFor(req map[string]any) fakeAnswer {
	msgs := asList(req["messages"])
	last, _ := msgs[len(msgs)-1].(map[string]any)
	var said, result []string
	for _, bv := range asList(last["content"]) {
		k, v := only(bv)
		switch k {
		case "text":
			said = append(said, str(v))
		case "toolResult":
			for _, cv := range asList(obj(v)["content"]) {
				if ck, t := only(cv); ck == "text" {
					result = append(result, str(t))
				}
			}
		}
	}
	a := fakeAnswer{stop: "end_turn"}
	if obj(obj(req["additionalModelRequestFields"])["thinking"])["type"] == "enabled" {
		a.reasoning, a.signature = "The user wants an answer.", "EqQBCkgIBxABGAIiQPAIsignature"
	}
	tc, _ := req["toolConfig"].(map[string]any)
	if tc != nil && len(result) == 0 {
		name, props := "", []string(nil)
		if _, v := only(tc["toolChoice"]); v != nil {
			name = str(obj(v)["name"])
		}
		for _, tv := range asList(tc["tools"]) {
			if k, v := only(tv); k == "toolSpec" {
				spec := obj(v)
				if name == "" || spec["name"] == name {
					name = str(spec["name"])
					_, schema := only(spec["inputSchema"])
					for p := range obj(obj(schema)["properties"]) {
						props = append(props, p)
					}
					break
				}
			}
		}
		sort.Strings(props)
		input := map[string]string{}
		if len(props) > 0 {
			input[props[0]] = strings.Join(said, " ")
		}
		b, _ := json.Marshal(input)
		a.toolID, a.toolName, a.toolInput, a.stop = "tooluse_"+strconv.Itoa(len(msgs)), name, string(b), "tool_use"
	} else if len(result) > 0 {
		a.text = "The tool returned: " + strings.Join(result, " ")
	} else {
		a.text = "You said: " + strings.Join(said, " ")
	}
	if ic, ok := req["inferenceConfig"].(map[string]any); ok && a.text != "" {
		if n, ok := ic["maxTokens"].(json.Number); ok {
			max, _ := n.Int64()
			if words := strings.Fields(a.text); int64(len(words)) > max {
				a.text, a.stop = strings.Join(words[:max], " "), "max_tokens"
			}
		}
	}
	in := 0
	cached := strings.Contains(mustJSON(req), `"cachePoint"`)
	for _, mv := range msgs {
		for _, bv := range asList(obj(mv)["content"]) {
			if k, v := only(bv); k == "text" {
				in += len(strings.Fields(str(v)))
			}
		}
	}
	for _, sv := range asList(req["system"]) {
		if k, v := only(sv); k == "text" {
			in += len(strings.Fields(str(v)))
		}
	}
	out := len(strings.Fields(a.text)) + len(strings.Fields(a.reasoning))
	if a.toolName != "" {
		out += 3
	}
	a.usage = map[string]int{"inputTokens": in, "outputTokens": out, "totalTokens": in + out}
	if cached {
		a.usage["cacheReadInputTokens"], a.usage["cacheWriteInputTokens"] = 100, 20
		a.usage["totalTokens"] += 120
	}
	return a
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// converse is the Converse answer.
func (a fakeAnswer) converse() map[string]any {
	var content []any
	if a.reasoning != "" {
		content = append(content, map[string]any{"reasoningContent": map[string]any{"reasoningText": map[string]any{"text": a.reasoning, "signature": a.signature}}})
	}
	if a.text != "" {
		content = append(content, map[string]any{"text": a.text})
	}
	if a.toolName != "" {
		content = append(content, map[string]any{"toolUse": map[string]any{"toolUseId": a.toolID, "name": a.toolName, "input": json.RawMessage(a.toolInput)}})
	}
	return map[string]any{
		"output":     map[string]any{"message": map[string]any{"role": "assistant", "content": content}},
		"stopReason": a.stop,
		"usage":      a.usage,
		"metrics":    map[string]any{"latencyMs": 412},
	}
}

// padding is the "p" member Bedrock adds to stream events.
const padding = "abcdefghijklmnopqrstuvwxyzABCDEF"

// stream writes the ConverseStream answer as Bedrock does, one flushed
// event at a time; exception, if set, replaces everything after the first
// content delta.
func (a fakeAnswer) stream(w http.ResponseWriter, exception string) {
	fl := w.(http.Flusher)
	send := func(typ string, payload map[string]any) {
		payload["p"] = padding[:1+len(typ)%len(padding)]
		b, _ := json.Marshal(payload)
		encodeEvent(w, fixtureEvent{Event: typ, Payload: b})
		fl.Flush()
	}
	deltas := 0
	failed := func() bool {
		deltas++
		if exception == "" || deltas != 2 {
			return false
		}
		encodeEvent(w, fixtureEvent{Exception: exception, Payload: json.RawMessage(`{"message":"The stream failed: ` + exception + `"}`)})
		return true
	}
	send("messageStart", map[string]any{"role": "assistant"})
	idx := 0
	if a.reasoning != "" {
		send("contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]any{"reasoningContent": map[string]any{"text": a.reasoning}}})
		send("contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]any{"reasoningContent": map[string]any{"signature": a.signature}}})
		send("contentBlockStop", map[string]any{"contentBlockIndex": idx})
		idx++
	}
	if a.text != "" {
		words := strings.SplitAfter(a.text, " ")
		for _, word := range words {
			send("contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]any{"text": word}})
			if failed() {
				return
			}
		}
		send("contentBlockStop", map[string]any{"contentBlockIndex": idx})
		idx++
	}
	if a.toolName != "" {
		send("contentBlockStart", map[string]any{"contentBlockIndex": idx, "start": map[string]any{"toolUse": map[string]any{"toolUseId": a.toolID, "name": a.toolName}}})
		half := len(a.toolInput) / 2
		for _, frag := range []string{a.toolInput[:half], a.toolInput[half:]} {
			send("contentBlockDelta", map[string]any{"contentBlockIndex": idx, "delta": map[string]any{"toolUse": map[string]any{"input": frag}}})
			if failed() {
				return
			}
		}
		send("contentBlockStop", map[string]any{"contentBlockIndex": idx})
	}
	send("messageStop", map[string]any{"stopReason": a.stop})
	send("metadata", map[string]any{"usage": a.usage, "metrics": map[string]any{"latencyMs": 388}})
}

// Embeddings.

// invoke serves InvokeModel for Titan and Cohere embedding models; it
// returns a ValidationException message or "".
func (f *FakeBedrock) invoke(w http.ResponseWriter, model string, req map[string]any) string {
	switch {
	case strings.Contains(model, "amazon.titan-embed"):
		v2 := strings.Contains(model, "titan-embed-text-v2")
		dims := 1536
		if v2 {
			dims = 1024
		}
		for k, v := range req {
			switch {
			case k == "inputText":
				if s, ok := v.(string); !ok || s == "" {
					return "Malformed input request: inputText must be a non-empty string"
				}
			case k == "dimensions" && v2:
				n, _ := integer(v)
				if n != 256 && n != 512 && n != 1024 {
					return "Malformed input request: dimensions must be 256, 512 or 1024"
				}
				dims = int(n)
			case k == "normalize" && v2:
			default:
				return "Malformed input request: extraneous key [" + k + "] is not permitted, please reformat your input and try again."
			}
		}
		text, _ := req["inputText"].(string)
		if text == "" {
			return "Malformed input request: required key [inputText] not found"
		}
		n := len(strings.Fields(text))
		w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(n))
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"embedding": vector(text, dims), "inputTextTokenCount": n})
	case strings.Contains(model, "cohere.embed"):
		v4 := strings.Contains(model, "embed-v4")
		dims := 1024
		if v4 {
			dims = 1536
		}
		var texts []string
		byType := false
		for k, v := range req {
			switch k {
			case "texts":
				for _, t := range asList(v) {
					s, ok := t.(string)
					if !ok || s == "" {
						return "Malformed input request: texts must hold non-empty strings"
					}
					texts = append(texts, s)
				}
			case "input_type":
				if !set("search_document", "search_query", "classification", "clustering")[str(v)] {
					return "Malformed input request: input_type is invalid"
				}
			case "embedding_types":
				for _, t := range asList(v) {
					if t != "float" && t != "int8" && t != "uint8" && t != "binary" && t != "ubinary" {
						return "Malformed input request: embedding_types is invalid"
					}
				}
				byType = true
			case "output_dimension":
				if !v4 {
					return "Malformed input request: extraneous key [output_dimension] is not permitted"
				}
				n, ok := integer(v)
				if !ok || n < 1 || n > 4096 {
					return "Malformed input request: output_dimension is invalid"
				}
				dims = int(n)
			case "truncate":
			default:
				return "Malformed input request: extraneous key [" + k + "] is not permitted, please reformat your input and try again."
			}
		}
		if len(texts) == 0 || len(texts) > 96 {
			return "Malformed input request: texts must hold 1 to 96 strings"
		}
		if _, ok := req["input_type"]; !ok {
			return "Malformed input request: required key [input_type] not found"
		}
		vecs := make([][]float64, len(texts))
		n := 0
		for i, t := range texts {
			vecs[i] = vector(t, dims)
			n += len(strings.Fields(t))
		}
		w.Header().Set("X-Amzn-Bedrock-Input-Token-Count", strconv.Itoa(n))
		w.Header().Set("Content-Type", "application/json")
		resp := map[string]any{"id": "emb-1", "texts": texts, "response_type": "embeddings_floats", "embeddings": vecs}
		if byType {
			resp["response_type"], resp["embeddings"] = "embeddings_by_type", map[string]any{"float": vecs}
		}
		json.NewEncoder(w).Encode(resp)
	default:
		return "The model " + model + " does not support InvokeModel embeddings in this fake."
	}
	return ""
}

// vector is a deterministic embedding of text.
func vector(text string, dims int) []float64 {
	h := fnv.New64a()
	h.Write([]byte(text))
	seed := h.Sum64()
	v := make([]float64, dims)
	for i := range v {
		seed = seed*6364136223846793005 + 1442695040888963407
		v[i] = float64(int64(seed>>40)%2000-1000) / 1000
	}
	return v
}

package bedrock

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"unicode/utf8"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// Embedding limits.
const (
	// maxEmbeddingInputs bounds the texts of one request, as OpenAI does.
	maxEmbeddingInputs = 2048
	// cohereBatch is how many texts one Cohere InvokeModel call takes.
	cohereBatch = 96
	// titanParallel is how many Titan calls (one per text) run at once.
	titanParallel = 4
)

type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
	// InputType is Cohere's input_type (not part of OpenAI's API).
	// Default: search_document.
	InputType string `json:"input_type"`
}

// embedding is one vector (a JSON array) and the tokens of its text.
type embedding struct {
	values json.RawMessage
	tokens int
}

// Embeddings implements providers.Provider with InvokeModel: Amazon Titan
// text embedding models (amazon.titan-embed-*) get one call per text,
// Cohere models (cohere.embed-*) calls of up to 96 texts. The answer is
// OpenAI's embeddings list, vectors as floats or, with encoding_format
// base64, as base64 little-endian float32s.
func (p *Bedrock) Embeddings(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	var in embeddingsRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	texts, err := p.embeddingInputs(in.Input)
	if err != nil {
		return nil, err
	}
	b64 := false
	switch in.EncodingFormat {
	case "", "float":
	case "base64":
		b64 = true
	default:
		return nil, p.reject("encoding_format", "encoding_format must be float or base64, not "+strconv.Quote(in.EncodingFormat))
	}
	model := strings.ToLower(req.Model)
	var vecs []embedding
	switch {
	case strings.Contains(model, "amazon.titan-embed"):
		if in.InputType != "" {
			return nil, p.reject("input_type", "input_type is a Cohere parameter; Titan embedding models take none")
		}
		vecs, err = p.titan(ctx, req, texts, in.Dimensions)
	case strings.Contains(model, "cohere.embed"):
		vecs, err = p.cohere(ctx, req, texts, &in)
	default:
		return nil, p.reject("model", "Bedrock embeddings are translated for Amazon Titan (amazon.titan-embed-*) and Cohere (cohere.embed-*) models, not "+strconv.Quote(req.Model))
	}
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 256)
	out = append(out, `{"object":"list","data":[`...)
	tokens := 0
	for i, e := range vecs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, `{"object":"embedding","index":`...)
		out = strconv.AppendInt(out, int64(i), 10)
		out = append(out, `,"embedding":`...)
		if out, err = openai.AppendEmbedding(out, e.values, b64); err != nil {
			return nil, p.client.InvalidResponse(err.Error())
		}
		out = append(out, '}')
		tokens += e.tokens
	}
	out = append(out, `],"model":`...)
	out = openai.AppendString(out, req.Model)
	out = append(out, `,"usage":{"prompt_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, `,"total_tokens":`...)
	out = strconv.AppendInt(out, int64(tokens), 10)
	out = append(out, "}}"...)
	return &providers.Response{Body: out}, nil
}

// titan embeds each text with its own call, titanParallel at a time:
// {"inputText":…,"dimensions"?} → {"embedding":[…],"inputTextTokenCount":n}.
func (p *Bedrock) titan(ctx context.Context, req *providers.Request, texts []string, dims *int) ([]embedding, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	vecs := make([]embedding, len(texts))
	errs := make([]error, len(texts))
	sem := make(chan struct{}, titanParallel)
	var wg sync.WaitGroup
	for i, text := range texts {
		sem <- struct{}{}
		if ctx.Err() != nil {
			<-sem
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			body, _ := json.Marshal(struct {
				InputText  string `json:"inputText"`
				Dimensions *int   `json:"dimensions,omitempty"`
			}{text, dims})
			b, h, err := p.invoke(ctx, req, body)
			if err == nil {
				var r struct {
					Embedding           json.RawMessage `json:"embedding"`
					InputTextTokenCount *int            `json:"inputTextTokenCount"`
				}
				if json.Unmarshal(b, &r) != nil || isNull(r.Embedding) {
					err = p.client.InvalidResponse("a Titan answer has no embedding")
				} else {
					vecs[i] = embedding{values: r.Embedding, tokens: tokenCount(h, r.InputTextTokenCount, text)}
				}
			}
			if err != nil {
				errs[i] = err
				cancel()
			}
		}()
	}
	wg.Wait()
	if err := firstError(errs); err != nil {
		return nil, err
	}
	if err := ctx.Err(); err != nil {
		return nil, context.Canceled
	}
	return vecs, nil
}

// firstError is the first error that is not a cancellation caused by
// another one.
func firstError(errs []error) error {
	var canceled error
	for _, err := range errs {
		switch {
		case err == nil:
		case errors.Is(err, context.Canceled):
			canceled = err
		default:
			return err
		}
	}
	return canceled
}

// cohere embeds the texts in calls of up to cohereBatch:
// {"texts":[…],"input_type":…,"embedding_types":["float"]} →
// {"embeddings":{"float":[[…]…]}} (or, from older models, a plain array).
func (p *Bedrock) cohere(ctx context.Context, req *providers.Request, texts []string, in *embeddingsRequest) ([]embedding, error) {
	inputType := in.InputType
	switch inputType {
	case "":
		inputType = "search_document"
	case "search_document", "search_query", "classification", "clustering":
	default:
		return nil, p.reject("input_type", "input_type must be search_document, search_query, classification or clustering")
	}
	vecs := make([]embedding, 0, len(texts))
	for start := 0; start < len(texts); start += cohereBatch {
		batch := texts[start:min(start+cohereBatch, len(texts))]
		body, _ := json.Marshal(struct {
			Texts           []string `json:"texts"`
			InputType       string   `json:"input_type"`
			EmbeddingTypes  []string `json:"embedding_types"`
			OutputDimension *int     `json:"output_dimension,omitempty"`
		}{batch, inputType, []string{"float"}, in.Dimensions})
		b, h, err := p.invoke(ctx, req, body)
		if err != nil {
			return nil, err
		}
		var r struct {
			Embeddings json.RawMessage `json:"embeddings"`
		}
		if err := json.Unmarshal(b, &r); err != nil {
			return nil, p.client.InvalidResponse("decoding the Cohere answer: " + err.Error())
		}
		raw := bytes.TrimSpace(r.Embeddings)
		if len(raw) > 0 && raw[0] == '{' {
			var byType struct {
				Float json.RawMessage `json:"float"`
			}
			_ = json.Unmarshal(raw, &byType)
			raw = byType.Float
		}
		var list []json.RawMessage
		if json.Unmarshal(raw, &list) != nil || len(list) != len(batch) {
			return nil, p.client.InvalidResponse(strconv.Itoa(len(list)) + " Cohere embeddings for " + strconv.Itoa(len(batch)) + " texts")
		}
		// Bedrock counts the batch's tokens in a header; they are spread
		// over its texts in proportion to their length.
		total := tokenCount(h, nil, strings.Join(batch, " "))
		chars := 0
		for _, t := range batch {
			chars += len(t)
		}
		given := 0
		for i, v := range list {
			n := total - given
			if i < len(list)-1 && chars > 0 {
				n = total * len(batch[i]) / chars
			}
			given += n
			vecs = append(vecs, embedding{values: v, tokens: n})
		}
	}
	return vecs, nil
}

// invoke sends one InvokeModel call and returns the answer's body and
// headers.
func (p *Bedrock) invoke(ctx context.Context, req *providers.Request, body []byte) ([]byte, http.Header, error) {
	resp, err := p.post(ctx, req.Model, "invoke", "application/json", body, req.Header)
	if err != nil {
		return nil, nil, err
	}
	b, err := p.client.ReadBody(resp)
	return b, resp.Header, err
}

// tokenCount is Bedrock's input token count: the body's, else the
// X-Amzn-Bedrock-Input-Token-Count header, else an estimate of one token
// per four characters.
func tokenCount(h http.Header, body *int, text string) int {
	if body != nil {
		return *body
	}
	if n, err := strconv.Atoi(h.Get("X-Amzn-Bedrock-Input-Token-Count")); err == nil && n >= 0 {
		return n
	}
	return (utf8.RuneCountInString(text) + 3) / 4
}

// embeddingInputs reads input: a string or a non-empty array of at most
// maxEmbeddingInputs non-empty strings. Token arrays cannot be embedded.
func (p *Bedrock) embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) != nil || s == "" {
			return nil, p.reject("input", "input must be a non-empty string")
		}
		return []string{s}, nil
	}
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, p.reject("input", "input must be a string or an array of strings")
	}
	if len(list) == 0 || len(list) > maxEmbeddingInputs {
		return nil, p.reject("input", "input must hold 1 to "+strconv.Itoa(maxEmbeddingInputs)+" texts")
	}
	texts := make([]string, len(list))
	for i, e := range list {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &texts[i]) != nil {
			return nil, p.reject("input", "Bedrock embeds text only: input must be a string or an array of strings, not token arrays")
		}
		if texts[i] == "" {
			return nil, p.reject("input["+strconv.Itoa(i)+"]", "an input text must not be empty")
		}
	}
	return texts, nil
}

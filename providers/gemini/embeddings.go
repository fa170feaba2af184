package gemini

import (
	"bytes"
	"context"
	"encoding/json"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/providers"
)

// maxBatch is how many texts one batchEmbedContents call takes; longer
// inputs are sent in several calls.
const maxBatch = 100

type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

type batchEmbedRequest struct {
	Requests []embedRequest `json:"requests"`
}

type embedRequest struct {
	Model                string  `json:"model"`
	Content              content `json:"content"`
	OutputDimensionality *int    `json:"outputDimensionality,omitempty"`
}

type batchEmbedResponse struct {
	Embeddings []struct {
		Values json.RawMessage `json:"values"`
	} `json:"embeddings"`
}

// Embeddings implements providers.Provider with batchEmbedContents: input
// (a string or an array of strings) becomes one request per text,
// dimensions becomes outputDimensionality, and the vectors come back as
// floats or, with encoding_format "base64", as base64 little-endian
// float32s. Gemini reports no token counts: usage is estimated as one
// token per four characters of input, rounded up per text.
func (p *Gemini) Embeddings(ctx context.Context, req *providers.Request) (*providers.Response, error) {
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
	modelName := "models/" + strings.TrimPrefix(req.Model, "models/")
	target := p.modelURL(req.Model, "batchEmbedContents")

	out := make([]byte, 0, 256)
	out = append(out, `{"object":"list","data":[`...)
	tokens := 0
	for start := 0; start < len(texts); start += maxBatch {
		batch := texts[start:min(start+maxBatch, len(texts))]
		breq := batchEmbedRequest{Requests: make([]embedRequest, len(batch))}
		for i, t := range batch {
			breq.Requests[i] = embedRequest{Model: modelName, Content: content{Parts: []part{{Text: t}}}, OutputDimensionality: in.Dimensions}
			tokens += (utf8.RuneCountInString(t) + 3) / 4
		}
		body, err := json.Marshal(&breq)
		if err != nil {
			return nil, p.client.InvalidResponse(err.Error())
		}
		resp, err := p.post(ctx, target, body, req.Header)
		if err != nil {
			return nil, err
		}
		rb, err := p.client.ReadBody(resp)
		if err != nil {
			return nil, err
		}
		var br batchEmbedResponse
		if err := json.Unmarshal(rb, &br); err != nil {
			return nil, p.client.InvalidResponse("decoding the batchEmbedContents response: " + err.Error())
		}
		if len(br.Embeddings) != len(batch) {
			return nil, p.client.InvalidResponse(strconv.Itoa(len(br.Embeddings)) + " embeddings for " + strconv.Itoa(len(batch)) + " inputs")
		}
		for i, e := range br.Embeddings {
			if start+i > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"object":"embedding","index":`...)
			out = strconv.AppendInt(out, int64(start+i), 10)
			out = append(out, `,"embedding":`...)
			if out, err = openai.AppendEmbedding(out, e.Values, b64); err != nil {
				return nil, p.client.InvalidResponse(err.Error())
			}
			out = append(out, '}')
		}
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

// embeddingInputs reads input: a string or a non-empty array of strings.
// Token arrays cannot be embedded by Gemini.
func (p *Gemini) embeddingInputs(raw json.RawMessage) ([]string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) > 0 && raw[0] == '"' {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, p.reject("input", "input is not a valid string")
		}
		return []string{s}, nil
	}
	var list []json.RawMessage
	if len(raw) == 0 || raw[0] != '[' || json.Unmarshal(raw, &list) != nil {
		return nil, p.reject("input", "input must be a string or an array of strings")
	}
	if len(list) == 0 {
		return nil, p.reject("input", "input must not be empty")
	}
	texts := make([]string, len(list))
	for i, e := range list {
		if len(e) == 0 || e[0] != '"' || json.Unmarshal(e, &texts[i]) != nil {
			return nil, p.reject("input", "Gemini embeds text only: input must be a string or an array of strings, not token arrays")
		}
	}
	return texts, nil
}

package vertex

import (
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

const (
	// maxBatch is how many texts one predict call takes (Vertex AI's
	// limit for text-embedding models).
	maxBatch = 250
	// maxBatchBytes keeps one predict call's texts well under Vertex AI's
	// 20,000 tokens per call; a longer text goes alone.
	maxBatchBytes = 50_000
	// maxParallel bounds the predict calls of one request in flight.
	maxParallel = 4
)

type embeddingsRequest struct {
	Input          json.RawMessage `json:"input"`
	Dimensions     *int            `json:"dimensions"`
	EncodingFormat string          `json:"encoding_format"`
}

type predictRequest struct {
	Instances  []instance  `json:"instances"`
	Parameters *parameters `json:"parameters,omitempty"`
}

type instance struct {
	Content string `json:"content"`
}

type parameters struct {
	OutputDimensionality *int `json:"outputDimensionality,omitempty"`
}

type predictResponse struct {
	Predictions []struct {
		Embeddings struct {
			Values     json.RawMessage `json:"values"`
			Statistics *struct {
				TokenCount float64 `json:"token_count"`
			} `json:"statistics"`
		} `json:"embeddings"`
	} `json:"predictions"`
}

// Embeddings implements providers.Provider with predict: input (a string
// or an array of strings) becomes instances [{"content": text}], dimensions
// becomes parameters.outputDimensionality, and the vectors come back as
// floats or, with encoding_format "base64", as base64 little-endian
// float32s. Texts go in calls of at most 250 (one for gemini-embedding
// models, which take a single instance), at most four calls at once.
// Usage is the sum of the predictions' statistics.token_count.
func (p *Vertex) Embeddings(ctx context.Context, req *providers.Request) (*providers.Response, error) {
	if isClaude(req.Model) {
		return nil, &providers.Error{Err: openai.InvalidRequest("model",
			"provider "+strconv.Quote(p.client.Name)+" cannot embed with "+strconv.Quote(req.Model)+": Claude offers no embeddings")}
	}
	var in embeddingsRequest
	if err := json.Unmarshal(req.Body, &in); err != nil {
		return nil, &providers.Error{Err: openai.InvalidRequest("", "parsing the request body: "+err.Error())}
	}
	texts, err := p.gemini.EmbeddingInputs(in.Input)
	if err != nil {
		return nil, err
	}
	b64 := false
	switch in.EncodingFormat {
	case "", "float":
	case "base64":
		b64 = true
	default:
		return nil, &providers.Error{Err: openai.InvalidRequest("encoding_format",
			"encoding_format must be float or base64, not "+strconv.Quote(in.EncodingFormat))}
	}
	var params *parameters
	if in.Dimensions != nil {
		params = &parameters{OutputDimensionality: in.Dimensions}
	}

	batches := splitBatches(texts, batchLimit(req.Model))
	results, err := p.predictAll(ctx, p.modelURL("google", req.Model, "predict"), texts, batches, params, b64, req.Header)
	if err != nil {
		return nil, err
	}

	out := make([]byte, 0, 256)
	out = append(out, `{"object":"list","data":[`...)
	tokens := 0
	for i, r := range results {
		for j, v := range r.vectors {
			idx := batches[i].start + j
			if idx > 0 {
				out = append(out, ',')
			}
			out = append(out, `{"object":"embedding","index":`...)
			out = strconv.AppendInt(out, int64(idx), 10)
			out = append(out, `,"embedding":`...)
			out = append(out, v...)
			out = append(out, '}')
		}
		tokens += r.tokens
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

// batchLimit is how many texts one predict call of model takes:
// gemini-embedding models take one.
func batchLimit(model string) int {
	if strings.Contains(model, "gemini-embedding") {
		return 1
	}
	return maxBatch
}

type batch struct{ start, end int }

// splitBatches cuts texts into runs of at most limit texts and (unless one
// text alone is longer) maxBatchBytes bytes.
func splitBatches(texts []string, limit int) []batch {
	var out []batch
	start, size := 0, 0
	for i, t := range texts {
		if i > start && (i-start >= limit || size+len(t) > maxBatchBytes) {
			out = append(out, batch{start, i})
			start, size = i, 0
		}
		size += len(t)
	}
	return append(out, batch{start, len(texts)})
}

// predictAll embeds the batches, at most maxParallel at once. The first
// failure cancels the other calls and is the error returned.
func (p *Vertex) predictAll(ctx context.Context, target string, texts []string, batches []batch, params *parameters, b64 bool, extra http.Header) ([]batchResult, error) {
	results := make([]batchResult, len(batches))
	if len(batches) == 1 {
		results[0] = p.predict(ctx, target, texts, params, b64, extra)
		return results, results[0].err
	}
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu       sync.Mutex
		firstErr error
		wg       sync.WaitGroup
	)
	sem := make(chan struct{}, maxParallel)
	for i, b := range batches {
		sem <- struct{}{}
		if ctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			r := p.predict(ctx, target, texts[b.start:b.end], params, b64, extra)
			if r.err != nil {
				mu.Lock()
				if firstErr == nil && ctx.Err() == nil {
					firstErr = r.err
				}
				mu.Unlock()
				cancel()
			}
			results[i] = r
		}()
	}
	wg.Wait()
	if firstErr != nil {
		return nil, firstErr
	}
	if parent.Err() != nil {
		return nil, context.Canceled
	}
	return results, nil
}

type batchResult struct {
	vectors [][]byte // one JSON value per text
	tokens  int
	err     error
}

// predict embeds one batch of texts.
func (p *Vertex) predict(ctx context.Context, target string, texts []string, params *parameters, b64 bool, extra http.Header) batchResult {
	preq := predictRequest{Instances: make([]instance, len(texts)), Parameters: params}
	for i, t := range texts {
		preq.Instances[i].Content = t
	}
	body, err := json.Marshal(&preq)
	if err != nil {
		return batchResult{err: p.client.InvalidResponse(err.Error())}
	}
	resp, err := p.post(ctx, target, body, extra)
	if err != nil {
		return batchResult{err: err}
	}
	rb, err := p.client.ReadBody(resp)
	if err != nil {
		return batchResult{err: err}
	}
	vectors, tokens, err := readPredictions(rb, texts, b64)
	if err != nil {
		return batchResult{err: p.client.InvalidResponse(err.Error())}
	}
	return batchResult{vectors: vectors, tokens: tokens}
}

// readPredictions reads a predict answer for texts: one vector per text,
// as OpenAI embedding values, and the token count (estimated as one token
// per four characters for a prediction without statistics).
func readPredictions(body []byte, texts []string, b64 bool) ([][]byte, int, error) {
	var pr predictResponse
	if err := json.Unmarshal(body, &pr); err != nil {
		return nil, 0, errors.New("decoding the predict response: " + err.Error())
	}
	if len(pr.Predictions) != len(texts) {
		return nil, 0, errors.New(strconv.Itoa(len(pr.Predictions)) + " predictions for " + strconv.Itoa(len(texts)) + " inputs")
	}
	vectors := make([][]byte, len(texts))
	tokens := 0
	for i, pred := range pr.Predictions {
		v, err := openai.AppendEmbedding(nil, pred.Embeddings.Values, b64)
		if err != nil {
			return nil, 0, err
		}
		vectors[i] = v
		if st := pred.Embeddings.Statistics; st != nil && st.TokenCount >= 0 && st.TokenCount < 1<<31 {
			tokens += int(st.TokenCount)
		} else {
			tokens += (utf8.RuneCountInString(texts[i]) + 3) / 4
		}
	}
	return vectors, tokens, nil
}

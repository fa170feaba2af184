// Package tokens counts tokens as OpenAI's models do, for the input
// estimate handed to usage's Reserve. It is a separate package because its
// vocabularies add several megabytes to a binary.
package tokens

import (
	"math"
	"strings"
	"sync"

	"github.com/dgraph-io/ristretto/v2"
	"github.com/tiktoken-go/tokenizer"
)

var (
	o200k  = sync.OnceValue(func() *counter { return newCounter(tokenizer.O200kBase) })
	cl100k = sync.OnceValue(func() *counter { return newCounter(tokenizer.Cl100kBase) })
)

// Counts are remembered: prompts repeat (an app's system prompt is in every
// request, a conversation resends its history every turn), and tokenizing
// costs about a microsecond for a short text and far more for a long one.
const (
	// memoEntries is how many texts' counts each encoding remembers.
	memoEntries = 1 << 16
	// memoMinLen is the shortest text whose count is remembered.
	memoMinLen = 16
)

// counter is one encoding and the counts of recent texts. Its cache keeps
// two 64-bit hashes of each text, never the text itself.
type counter struct {
	codec tokenizer.Codec
	memo  *ristretto.Cache[string, int32]
}

func newCounter(enc tokenizer.Encoding) *counter {
	c, err := tokenizer.Get(enc)
	if err != nil {
		panic("tokens: loading " + string(enc) + ": " + err.Error())
	}
	c.SetErrorMode(tokenizer.ErrorModeReplace)
	memo, err := ristretto.NewCache(&ristretto.Config[string, int32]{
		NumCounters:        memoEntries * 10,
		MaxCost:            memoEntries,
		BufferItems:        64,
		IgnoreInternalCost: true,
	})
	if err != nil {
		panic("tokens: creating the count cache: " + err.Error())
	}
	return &counter{codec: c, memo: memo}
}

// name is the encoding's name.
func (c *counter) name() string { return c.codec.GetName() }

// count tokenizes text, or recalls having done so.
func (c *counter) count(text string) int {
	remember := len(text) >= memoMinLen
	if remember {
		if n, ok := c.memo.Get(text); ok {
			return int(n)
		}
	}
	n, err := c.codec.Count(text)
	if err != nil {
		// Only possible in strict UTF-8 mode; fall back to a rough guess.
		return len(text)/4 + 1
	}
	if remember && n <= math.MaxInt32 {
		c.memo.Set(text, int32(n), 1)
	}
	return n
}

// codecFor picks the encoding of model: cl100k_base for gpt-4 (not
// gpt-4o or gpt-4.1), gpt-3.5 and text-embedding-ada/3, o200k_base for
// everything else (gpt-4o, gpt-4.1, gpt-5, the o-series, and as the
// closest guess for other providers' models).
func codecFor(model string) *counter {
	m := strings.ToLower(model)
	if i := strings.LastIndexByte(m, '/'); i >= 0 {
		m = m[i+1:] // "openai/gpt-4" -> "gpt-4"
	}
	switch {
	case strings.HasPrefix(m, "gpt-4o"), strings.HasPrefix(m, "gpt-4.1"):
		return o200k()
	case strings.HasPrefix(m, "gpt-4"), strings.HasPrefix(m, "gpt-3.5"), strings.HasPrefix(m, "gpt-35"),
		strings.HasPrefix(m, "text-embedding-"):
		return cl100k()
	}
	return o200k()
}

// Count returns the number of tokens of text in model's encoding.
func Count(model, text string) int {
	if text == "" {
		return 0
	}
	return codecFor(model).count(text)
}

// Messages estimates the prompt tokens of a chat request from its
// messages' texts: their tokens plus OpenAI's overhead of 3 tokens per
// message and 3 priming the reply.
func Messages(model string, texts ...string) int {
	c := codecFor(model)
	n := 3
	for _, t := range texts {
		n += 3
		if t != "" {
			n += c.count(t)
		}
	}
	return n
}

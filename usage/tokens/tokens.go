// Package tokens counts tokens as OpenAI's models do, for the input
// estimate handed to usage's Reserve. It is a separate package because its
// vocabularies add several megabytes to a binary.
package tokens

import (
	"strings"
	"sync"

	"github.com/tiktoken-go/tokenizer"
)

var (
	o200k  = sync.OnceValue(func() tokenizer.Codec { return mustGet(tokenizer.O200kBase) })
	cl100k = sync.OnceValue(func() tokenizer.Codec { return mustGet(tokenizer.Cl100kBase) })
)

func mustGet(enc tokenizer.Encoding) tokenizer.Codec {
	c, err := tokenizer.Get(enc)
	if err != nil {
		panic("tokens: loading " + string(enc) + ": " + err.Error())
	}
	c.SetErrorMode(tokenizer.ErrorModeReplace)
	return c
}

// codecFor picks the encoding of model: cl100k_base for gpt-4 (not
// gpt-4o or gpt-4.1), gpt-3.5 and text-embedding-ada/3, o200k_base for
// everything else (gpt-4o, gpt-4.1, gpt-5, the o-series, and as the
// closest guess for other providers' models).
func codecFor(model string) tokenizer.Codec {
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
	n, err := codecFor(model).Count(text)
	if err != nil {
		// Only possible in strict UTF-8 mode; fall back to a rough guess.
		return len(text)/4 + 1
	}
	return n
}

// Messages estimates the prompt tokens of a chat request from its
// messages' texts: their tokens plus OpenAI's overhead of 3 tokens per
// message and 3 priming the reply.
func Messages(model string, texts ...string) int {
	n := 3
	for _, t := range texts {
		n += 3 + Count(model, t)
	}
	return n
}

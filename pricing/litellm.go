package pricing

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/polygate/polygate/providers"
)

// scale says how a LiteLLM cost becomes a providers.Price rate.
type scale int

const (
	perMillion scale = iota // USD per token (or character) → per million
	perMinute               // USD per second → per minute
	asIs                    // USD per image
)

// litellmRates are the LiteLLM cost fields read, and the rates they set;
// mode, when set, limits a field to entries of that mode. Other fields
// (output_cost_per_reasoning_token, tiered "above_200k" costs, per-pixel
// image costs, search and batch costs…) are ignored.
var litellmRates = []struct {
	field string
	mode  string
	scale scale
	rate  func(*providers.Price) *float64
}{
	{"input_cost_per_token", "", perMillion, func(p *providers.Price) *float64 { return &p.Input }},
	{"output_cost_per_token", "", perMillion, func(p *providers.Price) *float64 { return &p.Output }},
	{"cache_read_input_token_cost", "", perMillion, func(p *providers.Price) *float64 { return &p.Cached }},
	{"cache_creation_input_token_cost", "", perMillion, func(p *providers.Price) *float64 { return &p.CacheWrite }},
	{"cache_creation_input_token_cost_above_1hr", "", perMillion, func(p *providers.Price) *float64 { return &p.CacheWrite1h }},
	{"output_cost_per_image", "", asIs, func(p *providers.Price) *float64 { return &p.Image }},
	{"input_cost_per_audio_per_second", "", perMinute, func(p *providers.Price) *float64 { return &p.AudioMinute }},
	{"input_cost_per_second", "audio_transcription", perMinute, func(p *providers.Price) *float64 { return &p.AudioMinute }},
	{"input_cost_per_character", "audio_speech", perMillion, func(p *providers.Price) *float64 { return &p.TTSChars }},
}

// parseLiteLLM reads LiteLLM's model_prices_and_context_window.json: an
// object of entries by model name (often "provider/model", e.g.
// "bedrock/us-east-1/anthropic.claude-…" or "vertex_ai/claude-…@…"), each
// an object with costs in USD per token:
//
//	input_cost_per_token                       → input
//	output_cost_per_token                      → output
//	cache_read_input_token_cost                → cached
//	cache_creation_input_token_cost            → cache_write
//	cache_creation_input_token_cost_above_1hr  → cache_write_1h
//	output_cost_per_image                      → image (per image)
//	input_cost_per_audio_per_second            → audio_minute (× 60)
//	input_cost_per_second (audio_transcription) → audio_minute (× 60)
//	input_cost_per_character (audio_speech)    → tts_chars
//
// and litellm_provider, kept as the entry's provider. Per-token costs are
// scaled to per million in decimal, so 3e-06 is exactly 3, and rounded to
// 12 significant digits. "sample_spec" and entries that state no cost are
// skipped; a cost that is not a non-negative number is an error.
func parseLiteLLM(top []member) ([]Entry, error) {
	entries := make([]Entry, 0, len(top))
	for _, m := range top {
		if m.key == "sample_spec" {
			continue
		}
		e, err := litellmEntry(m)
		if err != nil {
			return nil, fmt.Errorf("entry %q: %v", m.key, err)
		}
		if !e.Price.IsZero() {
			entries = append(entries, e)
		}
	}
	return entries, nil
}

func litellmEntry(m member) (Entry, error) {
	e, fields, err := openEntry(m, "must be an object (LiteLLM's format maps each model name to an object of costs)")
	if err != nil {
		return e, err
	}
	var mode string
	for _, f := range fields {
		switch f.key {
		case "litellm_provider":
			if jsonKind(f.value) == '"' {
				_ = json.Unmarshal(f.value, &e.Provider)
			}
		case "mode":
			if jsonKind(f.value) == '"' {
				_ = json.Unmarshal(f.value, &mode)
			}
		}
	}
	for _, f := range fields {
		for _, r := range litellmRates {
			if r.field != f.key {
				continue
			}
			s, ok, err := number(f.value)
			if err != nil {
				return e, fmt.Errorf("%s: %v", f.key, err)
			}
			if !ok || r.mode != "" && r.mode != mode {
				continue
			}
			v, err := scaled(s, r.scale)
			if err != nil {
				return e, fmt.Errorf("%s: %v", f.key, err)
			}
			*r.rate(&e.Price) = v
		}
	}
	return e, nil
}

// scaled converts a LiteLLM cost (a valid, finite, non-negative JSON
// number) to a rate.
func scaled(s string, sc scale) (float64, error) {
	var v float64
	var err error
	switch sc {
	case perMillion:
		v, err = timesMillion(s)
	case perMinute:
		v, err = strconv.ParseFloat(s, 64)
		v *= 60
	default:
		v, err = strconv.ParseFloat(s, 64)
	}
	if err != nil || v > 1e15 {
		return 0, errors.New("must be a finite number of a sane size")
	}
	return round(v), nil
}

// timesMillion multiplies a decimal number by 10⁶ exactly, by moving its
// exponent, before converting it to binary: 3e-06 is exactly 3, where
// 3e-06*1e6 in floating point is not.
func timesMillion(s string) (float64, error) {
	mant, exp := s, 0
	if i := strings.IndexAny(s, "eE"); i >= 0 {
		n, err := strconv.Atoi(s[i+1:])
		if err != nil || n < -400 || n > 400 {
			return 0, errors.New("exponent out of range")
		}
		mant, exp = s[:i], n
	}
	return strconv.ParseFloat(mant+"e"+strconv.Itoa(exp+6), 64)
}

// round keeps 12 significant digits, dropping the noise of costs a
// program wrote as binary floats (1.1000000000000001e-06 is 1.1).
func round(v float64) float64 {
	r, err := strconv.ParseFloat(strconv.FormatFloat(v, 'g', 12, 64), 64)
	if err != nil {
		return v
	}
	return r
}

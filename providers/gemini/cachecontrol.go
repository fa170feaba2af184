package gemini

import (
	"encoding/json"
	"strconv"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/openai"
)

// checkCacheControl reads the cache_control marks of messages, their
// content parts and tools. Gemini caches prompt prefixes implicitly, so a
// mark without a lifetime is dropped; a mark with a "ttl" asks for a
// lifetime Gemini cannot give one request (explicit caches are separate
// cachedContents resources) and is a 400 naming the field, such as
// messages[2].content[0].cache_control.ttl.
func (p *Gemini) checkCacheControl(in *openai.ChatCompletionRequest) error {
	for i, m := range in.Messages {
		param := "messages[" + strconv.Itoa(i) + "]"
		if err := p.checkTTL(m.CacheControl, param); err != nil {
			return err
		}
		for j, cp := range m.Content.Parts {
			if err := p.checkTTL(cp.CacheControl, param+".content["+strconv.Itoa(j)+"]"); err != nil {
				return err
			}
		}
	}
	for i, t := range in.Tools {
		if err := p.checkTTL(t.CacheControl, "tools["+strconv.Itoa(i)+"]"); err != nil {
			return err
		}
	}
	return nil
}

func (p *Gemini) checkTTL(cc json.RawMessage, param string) error {
	if len(cc) == 0 {
		return nil
	}
	ttl := gjson.GetBytes(cc, "ttl")
	if !ttl.Exists() || ttl.Type == gjson.Null {
		return nil
	}
	return p.reject(param+".cache_control.ttl",
		"Gemini caches prompts implicitly and cannot keep a cache for "+strconv.Quote(ttl.String())+" per request: leave out the ttl")
}

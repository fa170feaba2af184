package handlers

import (
	"strings"
	"unsafe"

	"github.com/tidwall/gjson"

	"github.com/polygate/polygate/internal/rawjson"
)

// deltaText reads the text of choices[0].delta.content of a stream's
// chat.completion.chunks: what gjson's path of that name gives, in one
// pass that decodes no other value (it runs for every chunk of every
// stream a gateway with accounting relays). The members before "choices",
// which every chunk of a stream repeats, are skipped once seen.
type deltaText struct {
	head rawjson.Head
}

// appendTo appends the chunk's text to dst.
func (d *deltaText) appendTo(dst, chunk []byte) []byte {
	s := unsafe.String(unsafe.SliceData(chunk), len(chunk))
	var content string
	if d.head.Key == "" {
		d.head.Key = `"choices"`
	}
	d.head.Walk(s, func(name string, at int) int {
		if name != `"choices"` {
			return -1
		}
		first := true
		rawjson.Elements(s, at, func(el int) int {
			if !first {
				return -2
			}
			first = false
			return rawjson.Members(s, el, func(name string, at int) int {
				if name != `"delta"` {
					return -1
				}
				return rawjson.Members(s, at, func(name string, at int) int {
					if name != `"content"` || content != "" {
						return -1
					}
					end := rawjson.ValueEnd(s, at)
					content = s[at:end]
					return end
				})
			})
		})
		return -2 // the first "choices" is the one
	})
	if !rawjson.IsString(content) {
		return dst
	}
	if text := rawjson.StringText(content); strings.IndexByte(text, '\\') < 0 {
		return append(dst, text...)
	}
	return append(dst, gjson.Parse(content).Str...)
}

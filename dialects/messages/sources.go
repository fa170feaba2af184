package messages

import (
	"encoding/json"
	"strings"

	"github.com/polygate/polygate/openai"
)

// inSource is an image or document source.
type inSource struct {
	Type      string          `json:"type"`
	MediaType string          `json:"media_type"`
	Data      string          `json:"data"`
	URL       string          `json:"url"`
	FileID    string          `json:"file_id"`
	Content   json.RawMessage `json:"content"`
}

func decodeSource(raw json.RawMessage, p string) (*inSource, error) {
	if isNull(raw) {
		return nil, invalid(p+".source", p+".source: Field required")
	}
	var s inSource
	if err := json.Unmarshal(raw, &s); err != nil {
		return nil, invalid(p+".source", p+".source: Input should be a valid object")
	}
	return &s, nil
}

// imagePart turns an image block's source into an image_url part: a
// base64 source becomes a data: URL, a url source the URL. Files API
// sources are a 400: only Anthropic can read its files.
func imagePart(raw json.RawMessage, p string) (hubPart, error) {
	src, err := decodeSource(raw, p)
	if err != nil {
		return hubPart{}, err
	}
	switch src.Type {
	case "base64":
		if src.MediaType == "" {
			return hubPart{}, invalid(p+".source.media_type", p+".source.media_type: Field required")
		}
		if src.Data == "" {
			return hubPart{}, invalid(p+".source.data", p+".source.data: Field required")
		}
		return hubPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: "data:" + src.MediaType + ";base64," + src.Data}}, nil
	case "url":
		if src.URL == "" {
			return hubPart{}, invalid(p+".source.url", p+".source.url: Field required")
		}
		return hubPart{Type: openai.PartImageURL, ImageURL: &openai.ImageURL{URL: src.URL}}, nil
	case "file":
		return hubPart{}, filesAPIError(p)
	}
	return hubPart{}, invalid(p+".source.type", p+".source.type: Input should be 'base64', 'url' or 'file'")
}

func filesAPIError(p string) error {
	return invalid(p+".source.type", p+".source.type: file sources refer to Anthropic's Files API, which this model's provider cannot read; send the content as base64")
}

// documentParts appends a document block's parts:
//
//   - a base64 source (a PDF) becomes a file part with a data: URL, named
//     by the title ("document.pdf" when it has none);
//   - a text source becomes a text part: the title, the context and the
//     text, separated by blank lines;
//   - a content source becomes its text and image parts, after a text part
//     with the title and the context when it has them;
//   - url and file sources are a 400: the hub carries no document URL,
//     and only Anthropic can read its files.
//
// The block's cache_control goes on its last part; its citations setting
// is dropped (the hub returns no citations).
func (t *translator) documentParts(parts []hubPart, b *inBlock, cc json.RawMessage, p string) ([]hubPart, error) {
	src, err := decodeSource(b.Source, p)
	if err != nil {
		return nil, err
	}
	switch src.Type {
	case "base64":
		if src.Data == "" {
			return nil, invalid(p+".source.data", p+".source.data: Field required")
		}
		mt := src.MediaType
		if mt == "" {
			mt = "application/pdf"
		}
		name := b.Title
		if name == "" {
			name = "document.pdf"
		}
		return append(parts, hubPart{Type: openai.PartFile, File: &openai.FilePart{FileData: "data:" + mt + ";base64," + src.Data, Filename: name}, CacheControl: cc}), nil
	case "text":
		return append(parts, textPart(joinNonEmpty("\n\n", b.Title, b.Context, src.Data), cc)), nil
	case "content":
		n := len(parts)
		if isNull(src.Content) {
			return nil, invalid(p+".source.content", p+".source.content: Field required")
		}
		if head := joinNonEmpty("\n\n", b.Title, b.Context); head != "" {
			parts = append(parts, textPart(head, nil))
		}
		if src.Content[0] == '"' {
			var s string
			if err := json.Unmarshal(src.Content, &s); err != nil {
				return nil, invalid(p+".source.content", p+".source.content: Input should be a valid string")
			}
			parts = append(parts, textPart(s, nil))
		} else {
			blocks, err := decodeBlocks(src.Content, p+".source.content")
			if err != nil {
				return nil, err
			}
			for k := range blocks {
				kb := &blocks[k]
				kp := path(p, "source", "content", k)
				if kb.Type != "text" && kb.Type != "image" {
					return nil, invalid(kp+".type", kp+".type: document content holds text and image blocks only")
				}
				if parts, err = t.userPart(parts, kb, kp, "document"); err != nil {
					return nil, err
				}
			}
		}
		if cc != nil && len(parts) > n {
			parts[len(parts)-1].CacheControl = cc
		}
		return parts, nil
	case "url":
		return nil, invalid(p+".source.type", p+".source.type: document URLs cannot be passed to this model's provider; send the PDF as base64")
	case "file":
		return nil, filesAPIError(p)
	}
	return nil, invalid(p+".source.type", p+".source.type: Input should be 'base64', 'text', 'content', 'url' or 'file'")
}

// searchResultPart appends a search_result block as one text part: its
// title, its source and its texts, separated by blank lines. Citations
// are lost.
func (t *translator) searchResultPart(parts []hubPart, b *inBlock, cc json.RawMessage, p string) ([]hubPart, error) {
	var source string
	if !isNull(b.Source) {
		if err := json.Unmarshal(b.Source, &source); err != nil {
			return nil, invalid(p+".source", p+".source: Input should be a valid string")
		}
	}
	texts := []string{b.Title, source}
	if !isNull(b.Content) {
		blocks, err := decodeBlocks(b.Content, p+".content")
		if err != nil {
			return nil, err
		}
		for k := range blocks {
			if blocks[k].Type != "text" || blocks[k].Text == nil {
				kp := path(p, "content", k)
				return nil, invalid(kp+".type", kp+".type: search results hold text blocks only")
			}
			texts = append(texts, *blocks[k].Text)
		}
	}
	return append(parts, textPart(joinNonEmpty("\n\n", texts...), cc)), nil
}

func joinNonEmpty(sep string, items ...string) string {
	var b strings.Builder
	for _, s := range items {
		if s == "" {
			continue
		}
		if b.Len() > 0 {
			b.WriteString(sep)
		}
		b.WriteString(s)
	}
	return b.String()
}

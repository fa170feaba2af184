package messages

import (
	"time"

	"github.com/polygate/polygate/openai"
)

// ModelList returns the body of GET /v1/models in Anthropic's shape (for
// requests that carry anthropic-version) listing names in order, all in
// one page:
//
//	{"data":[{"type":"model","id":…,"display_name":…,"created_at":…}],
//	 "has_more":false,"first_id":…,"last_id":…}
//
// display_name is the name itself and created_at is created in RFC 3339
// (UTC); first_id and last_id are null for an empty list.
func ModelList(names []string, created time.Time) []byte {
	at := created.UTC().Format(time.RFC3339)
	b := make([]byte, 0, 64+len(names)*96)
	b = append(b, `{"data":[`...)
	for i, n := range names {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendModel(b, n, at)
	}
	b = append(b, `],"has_more":false,"first_id":`...)
	if len(names) == 0 {
		return append(b, `null,"last_id":null}`...)
	}
	b = openai.AppendString(b, names[0])
	b = append(b, `,"last_id":`...)
	b = openai.AppendString(b, names[len(names)-1])
	return append(b, '}')
}

// ModelObject returns the body of GET /v1/models/{id} in Anthropic's shape.
func ModelObject(name string, created time.Time) []byte {
	return appendModel(nil, name, created.UTC().Format(time.RFC3339))
}

func appendModel(b []byte, name, at string) []byte {
	b = append(b, `{"type":"model","id":`...)
	b = openai.AppendString(b, name)
	b = append(b, `,"display_name":`...)
	b = openai.AppendString(b, name)
	b = append(b, `,"created_at":`...)
	b = openai.AppendString(b, at)
	return append(b, '}')
}

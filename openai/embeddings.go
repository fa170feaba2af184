package openai

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"math"
)

// AppendEmbedding appends one embedding's values, given as a JSON array of
// numbers, in OpenAI's embeddings answer: the array compacted, or with b64
// (encoding_format "base64") a JSON string of base64 little-endian float32s.
func AppendEmbedding(b []byte, values json.RawMessage, b64 bool) ([]byte, error) {
	values = bytes.TrimSpace(values)
	if len(values) == 0 || values[0] != '[' {
		return b, errors.New("an embedding has no values")
	}
	if !b64 {
		buf := bytes.NewBuffer(b)
		if err := json.Compact(buf, values); err != nil {
			return b, errors.New("decoding embedding values: " + err.Error())
		}
		return buf.Bytes(), nil
	}
	var floats []float64
	if err := json.Unmarshal(values, &floats); err != nil {
		return b, errors.New("decoding embedding values: " + err.Error())
	}
	raw := make([]byte, 4*len(floats))
	for i, f := range floats {
		binary.LittleEndian.PutUint32(raw[4*i:], math.Float32bits(float32(f)))
	}
	b = append(b, '"')
	b = base64.StdEncoding.AppendEncode(b, raw)
	return append(b, '"'), nil
}

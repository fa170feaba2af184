package messages

import (
	"math/rand/v2"
	"strings"
)

const idAlphabet = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"

// randomID returns prefix and 24 random base-62 characters, the shape of
// Anthropic's ids (msg_01XFDUDYJgAACzvnptvVoYEL).
func randomID(prefix string) string {
	b := make([]byte, len(prefix), len(prefix)+24)
	copy(b, prefix)
	for range 24 {
		b = append(b, idAlphabet[rand.IntN(len(idAlphabet))])
	}
	return string(b)
}

func newToolID() string { return randomID("toolu_") }

// messageID derives a message id from a hub completion id: an id that
// already starts with "msg_" is kept; otherwise "msg_" and the id without
// OpenAI's "chatcmpl-" prefix, keeping letters, digits, '_' and '-' (at
// most 64 of them). An empty result gets a random id.
func messageID(hub string) string {
	if strings.HasPrefix(hub, "msg_") && len(hub) <= 68 && isIDText(hub) {
		return hub
	}
	hub = strings.TrimPrefix(hub, "chatcmpl-")
	b := make([]byte, 0, 4+min(len(hub), 64))
	b = append(b, "msg_"...)
	for i := 0; i < len(hub) && len(b) < 68; i++ {
		if c := hub[i]; isIDChar(c) {
			b = append(b, c)
		}
	}
	if len(b) == 4 {
		return randomID("msg_")
	}
	return string(b)
}

func isIDChar(c byte) bool {
	return c == '_' || c == '-' || '0' <= c && c <= '9' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z'
}

func isIDText(s string) bool {
	for i := 0; i < len(s); i++ {
		if !isIDChar(s[i]) {
			return false
		}
	}
	return true
}

package pricing

import "strings"

// regionPrefixes are the Bedrock cross-region inference-profile prefixes
// ("us.anthropic.claude-…", "global.anthropic.claude-…").
var regionPrefixes = map[string]bool{
	"us": true, "eu": true, "apac": true, "global": true, "jp": true,
	"au": true, "ca": true, "us-gov": true,
}

// canon is the canonical form of a model id, which both the entries'
// names and the ids looked up are reduced to:
//
//	lowercase, trimmed
//	the last segment of a path: "openai/gpt-4o", "models/gemini-2.5-pro",
//	  "publishers/google/models/gemini-2.5-pro", a Bedrock ARN
//	without a Bedrock region or inference-profile prefix ("us.", "eu.",
//	  "apac.", "global.", "jp.", "au.", "ca.", "us-gov.")
//	without the "anthropic." vendor prefix (Bedrock's Claude ids are
//	  Anthropic's with it)
//	without a ":<n>" revision ("amazon.nova-pro-v1:0" is
//	  "amazon.nova-pro-v1")
//	with Vertex's "@" version separator written "-"
//	  ("claude-3-5-sonnet@20240620" is "claude-3-5-sonnet-20240620")
func canon(s string) string {
	s = strings.TrimSpace(s)
	if hasUpper(s) {
		s = strings.ToLower(s)
	}
	if i := strings.LastIndexByte(s, '/'); i >= 0 {
		s = s[i+1:]
	}
	if dot := strings.IndexByte(s, '.'); dot > 0 && regionPrefixes[s[:dot]] {
		s = s[dot+1:]
	}
	s = strings.TrimPrefix(s, "anthropic.")
	if i := strings.LastIndexByte(s, ':'); i > 0 && i < len(s)-1 && allDigits(s[i+1:]) {
		s = s[:i]
	}
	if strings.IndexByte(s, '@') >= 0 {
		s = strings.ReplaceAll(s, "@", "-")
	}
	return s
}

func hasUpper(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c >= 'A' && c <= 'Z' || c >= 0x80 {
			return true
		}
	}
	return false
}

func allDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// isSep reports whether b separates the tokens of a model id.
func isSep(b byte) bool {
	switch b {
	case '-', '.', '_', ':', '@':
		return true
	}
	return false
}

// snapshotWords are the words a snapshot suffix may have.
func snapshotWord(tok string) bool {
	switch tok {
	case "latest", "preview", "exp":
		return true
	}
	return false
}

// versionToken reports whether tok is "v<digits>".
func versionToken(tok string) bool {
	return len(tok) > 1 && tok[0] == 'v' && allDigits(tok[1:])
}

// firstSnapshotToken reports whether tok may start a snapshot suffix: a
// number of at least 3 digits (a date, "001", "0613"), "v<n>", or a
// snapshot word. One or two digits are a model's minor version
// ("claude-opus-4-9" is not claude-opus-4).
func firstSnapshotToken(tok string) bool {
	return len(tok) >= 3 && allDigits(tok) || versionToken(tok) || snapshotWord(tok)
}

// laterSnapshotToken reports whether tok may follow the first token of a
// snapshot suffix ("2024-08-06", "preview-09-2025", "20250929-v1").
func laterSnapshotToken(tok string) bool {
	return allDigits(tok) || versionToken(tok) || snapshotWord(tok)
}

// Family is the provider family of a provider module type or a LiteLLM
// litellm_provider: bedrock (bedrock, bedrock_converse), vertex (vertex,
// vertex_ai, vertex_ai-*), gemini, azure (azure, azure_ai), openai
// (openai, text-completion-openai), anthropic; other names as they are.
func Family(provider string) string {
	p := strings.ToLower(strings.TrimSpace(provider))
	switch {
	case strings.HasPrefix(p, "bedrock"):
		return "bedrock"
	case strings.HasPrefix(p, "vertex"):
		return "vertex"
	case strings.HasPrefix(p, "azure"):
		return "azure"
	case p == "text-completion-openai":
		return "openai"
	}
	return p
}

package providers

import "testing"

func TestTrimVersionPath(t *testing.T) {
	for _, tc := range []struct {
		in, root, version string
		ok                bool
	}{
		{"https://api.anthropic.com/v1", "https://api.anthropic.com", "v1", true},
		{"https://api.anthropic.com/v1/", "https://api.anthropic.com", "v1", true},
		{"https://generativelanguage.googleapis.com/v1beta", "https://generativelanguage.googleapis.com", "v1beta", true},
		{"https://generativelanguage.googleapis.com/v1alpha", "https://generativelanguage.googleapis.com", "v1alpha", true},
		{"https://proxy.example.com/google/v2", "https://proxy.example.com/google", "v2", true},
		{"https://proxy.example.com/v1beta2", "https://proxy.example.com", "v1beta2", true},
		{"http://127.0.0.1:8080/V1", "http://127.0.0.1:8080", "V1", true},
		{"https://api.anthropic.com", "", "", false},
		{"https://api.anthropic.com/", "", "", false},
		{"https://proxy.example.com/v1/anthropic", "", "", false},
		{"https://proxy.example.com/v1proxy", "", "", false},
		{"https://proxy.example.com/dev1", "", "", false},
		{"https://proxy.example.com/v", "", "", false},
		{"https://v1.example.com", "", "", false},
	} {
		root, version, ok := TrimVersionPath(tc.in)
		if root != tc.root || version != tc.version || ok != tc.ok {
			t.Errorf("TrimVersionPath(%q) = %q, %q, %v; want %q, %q, %v", tc.in, root, version, ok, tc.root, tc.version, tc.ok)
		}
	}
}

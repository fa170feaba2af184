package vertex

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/polygate/polygate/providers"
)

func TestProvision(t *testing.T) {
	f := NewFakeGoogle(t)
	file := f.CredentialsFile(t)
	t.Setenv("POLYGATE_TEST_VERTEX_PROJECT", "my-project")
	t.Setenv("POLYGATE_TEST_VERTEX_CREDENTIALS", file)
	for _, tc := range []struct {
		base, location, version, root string
	}{
		{"", "us-central1", "", "https://us-central1-aiplatform.googleapis.com/v1/projects/my-project/locations/us-central1"},
		{"", "global", "", "https://aiplatform.googleapis.com/v1/projects/my-project/locations/global"},
		{"", "europe-west4", "v1beta1", "https://europe-west4-aiplatform.googleapis.com/v1beta1/projects/my-project/locations/europe-west4"},
		{"https://vertex.psc.example.internal/", "us-east5", "", "https://vertex.psc.example.internal/v1/projects/my-project/locations/us-east5"},
	} {
		p := &Vertex{Settings: providers.Settings{BaseURL: tc.base}, Project: "{env.POLYGATE_TEST_VERTEX_PROJECT}", Location: tc.location,
			APIVersion: tc.version, CredentialsFile: "{env.POLYGATE_TEST_VERTEX_CREDENTIALS}"}
		if err := provision(t, p); err != nil {
			t.Fatalf("%+v: %v", tc, err)
		}
		if p.root != tc.root {
			t.Errorf("root %q, want %q", p.root, tc.root)
		}
		if got := p.modelURL("anthropic", "claude-opus-4-1@20250805", "rawPredict"); got != tc.root+"/publishers/anthropic/models/claude-opus-4-1@20250805:rawPredict" {
			t.Errorf("model URL %q", got)
		}
		if got := p.modelURL("google", "endpoints/1234567890", "generateContent"); got != tc.root+"/endpoints/1234567890:generateContent" {
			t.Errorf("endpoint URL %q", got)
		}
		// The saved config keeps the placeholders.
		saved, _ := json.Marshal(p)
		if strings.Contains(string(saved), file) || strings.Contains(string(saved), "my-project") {
			t.Errorf("saved config %s", saved)
		}
	}
	for _, tc := range []struct {
		p    Vertex
		want string
	}{
		{Vertex{Location: "us-central1"}, "project is required"},
		{Vertex{Project: "p-1"}, "location is required"},
		{Vertex{Project: "p-1", Location: "us-central1/x"}, `location "us-central1/x" is not a Google Cloud location`},
		{Vertex{Project: "p/1", Location: "us-central1"}, `project "p/1" is not a Google Cloud project id or number`},
		{Vertex{Project: "p-1", Location: "us-central1", Settings: providers.Settings{APIKey: "k"}}, "api_key is not supported"},
		{Vertex{Project: "p-1", Location: "us-central1", Settings: providers.Settings{BaseURL: "https://x.example.com/v1beta1"}}, "ends in the API version"},
		{Vertex{Project: "p-1", Location: "us-central1", MaxTokens: -1}, "max_tokens must be positive"},
	} {
		err := provision(t, &tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: got %v, want %q", tc.p, err, tc.want)
		}
	}
}

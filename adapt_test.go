package polygate_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddytest"

	"github.com/polygate/polygate/internal/gatewaytest"
)

// TestCaddyfileAdapt checks every testdata/adapt/*.caddyfiletest: a
// Caddyfile, a line of dashes, and the JSON it must adapt to.
func TestCaddyfileAdapt(t *testing.T) {
	files, err := filepath.Glob("testdata/adapt/*.caddyfiletest")
	if err != nil || len(files) == 0 {
		t.Fatalf("no golden files: %v", err)
	}
	for _, f := range files {
		t.Run(filepath.Base(f), func(t *testing.T) {
			data, err := os.ReadFile(f)
			if err != nil {
				t.Fatal(err)
			}
			cf, want, ok := strings.Cut(string(data), "\n----------\n")
			if !ok {
				t.Fatalf("%s: no ---------- separator", f)
			}
			if !caddytest.CompareAdapt(t, f, cf+"\n", "caddyfile", strings.TrimRight(want, "\n")) {
				t.Fail()
			}
		})
	}
}

// TestCaddyfileErrors checks that configuration mistakes fail adapt with a
// message naming the line's subject.
func TestCaddyfileErrors(t *testing.T) {
	cases := []struct {
		name, block, want string
	}{
		{"unknown provider in model", `
		provider a openai
		model m {
			upstream b x
		}`, `model "m": upstream names unknown provider "b"`},
		{"duplicate provider", `
		provider a openai
		provider a openai`, `provider "a": defined more than once`},
		{"duplicate model", `
		provider a openai
		model m {
			upstream a x
		}
		model m {
			upstream a y
		}`, `model "m": defined more than once`},
		{"bad base_url", `
		provider a openai {
			base_url localhost:8000
		}`, `base_url "localhost:8000": must be an absolute http:// or https:// URL`},
		{"unknown provider type", `
		provider a nosuchtype`, `provider "a": unknown provider type "nosuchtype"`},
		{"unknown fallback", `
		provider a openai
		model m {
			upstream a x
			fallback other
		}`, `model "m": fallback names unknown model "other"`},
		{"fallback to itself", `
		provider a openai
		model m {
			upstream a x
			fallback m
		}`, `model "m": cannot fall back to itself`},
		{"bad weight", `
		provider a openai
		model m {
			upstream a x weight zero
		}`, `model "m": upstream weight "zero"`},
		{"model without upstream", `
		provider a openai
		model m {
			price 1 2
		}`, `model "m": at least one upstream is required`},
		{"bad price", `
		provider a openai
		model m {
			upstream a x
			price cheap 2
		}`, `model "m": price cheap 2`},
		{"unknown default provider", `
		default_provider z
		provider a openai`, `default_provider "z": no such provider`},
		{"unknown subdirective", `
		frobnicate on`, `unrecognized subdirective 'frobnicate'`},
		{"unknown provider option", `
		provider a openai {
			colour blue
		}`, `unrecognized subdirective 'colour'`},
		{"bad timeout", `
		provider a openai {
			timeout soon
		}`, `parsing timeout duration "soon"`},
		{"bad body size", `
		max_request_body lots`, `max_request_body: parsing size "lots"`},
		{"prices_file without a path", `
		prices_file`, `prices_file: expected one path`},
		{"prices_file with two paths", `
		prices_file a.json b.json`, `prices_file: expected one path`},
		{"bad prices_catalogue", `
		prices_catalogue maybe`, `expected on or off, got "maybe"`},
		{"base path without slash", `
		base_path v1`, `base_path "v1": must start with /`},
		{"unknown lb_policy", `
		provider a openai
		model m {
			upstream a x
			lb_policy fastest
		}`, `model "m": unknown lb_policy "fastest"`},
		{"negative max_fails", `
		provider a openai
		model m {
			upstream a x
			max_fails -1
		}`, `model "m": max_fails "-1": expected a positive integer`},
		{"zero fail_duration", `
		provider a openai
		model m {
			upstream a x
			fail_duration 0s
		}`, `model "m": fail_duration "0s": expected a positive duration`},
		{"lb_policy with options", `
		provider a openai
		model m {
			upstream a x
			lb_policy least_busy {
				fast yes
			}
		}`, `lb_policy least_busy takes no options`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			cf := ":8080 {\n\tai_gateway {" + tc.block + "\n\t}\n}\n"
			_, err := gatewaytest.Adapt(cf)
			if err == nil {
				t.Fatalf("adapt succeeded; want an error containing %q", tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error = %q\nwant it to contain %q", err, tc.want)
			}
			// The error names the line of the offending token: the last line
			// of the block that holds the token the message quotes.
			m := regexp.MustCompile(`Caddyfile:(\d+)`).FindStringSubmatch(err.Error())
			if m == nil {
				t.Fatalf("error = %q: no file and line", err)
			}
			line, _ := strconv.Atoi(m[1])
			lines := strings.Split(cf, "\n")
			if line < 1 || line > len(lines) {
				t.Fatalf("error = %q: line %d is outside the file", err, line)
			}
			if !lineHolds(lines[line-1], strings.TrimPrefix(err.Error(), "parsing caddyfile tokens for 'ai_gateway': ")) {
				t.Errorf("error = %q: line %d is %q, which is not what the error is about", err, line, strings.TrimSpace(lines[line-1]))
			}
		})
	}
}

// TestValidateGuardrailModels: a guardrail that calls a gateway model
// fails `caddy validate` when the model does not exist, naming both.
func TestValidateGuardrailModels(t *testing.T) {
	for _, tc := range []struct{ model, want string }{
		{"judge", ""},
		{"a/llama-guard", ""}, // a direct model
		{"nope", `guardrail "moderation": model "nope" is not a model of this gateway`},
	} {
		cf := `{
	admin off
	persist_config off
}
:8080 {
	ai_gateway {
		accounting off
		provider a openai
		model judge {
			upstream a llama-guard
		}
		guardrail moderation {
			on input
			model ` + tc.model + `
		}
	}
}
`
		err := validateCaddyfile(t, cf)
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("model %q: validate failed: %v", tc.model, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("model %q: validate error = %v, want it to contain %q", tc.model, err, tc.want)
		}
	}
}

// lineHolds reports whether a Caddyfile line holds a token that the error
// message quotes or starts with.
func lineHolds(line, msg string) bool {
	line = strings.TrimSpace(line)
	if line != "" && line != "}" && strings.Contains(msg, line) {
		return true
	}
	for _, q := range regexp.MustCompile(`["'](.*?)["']`).FindAllStringSubmatch(msg, -1) {
		if q[1] != "" && strings.Contains(line, q[1]) {
			return true
		}
	}
	first, _, _ := strings.Cut(msg, " ")
	first = strings.TrimSuffix(first, ":")
	return strings.HasPrefix(line, first)
}

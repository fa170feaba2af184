package guardrails

import (
	"slices"
	"strings"
	"testing"
)

func TestPIIDetectors(t *testing.T) {
	g := newPII(t, "redact", nil).tg
	tests := []struct {
		name string
		in   string
		want []found
	}{
		// e-mail
		{"email", "write to john.doe+x@mail.example.com today", []found{{"email", "john.doe+x@mail.example.com"}}},
		{"email trailing dot", "mail me: a.b@example.org.", []found{{"email", "a.b@example.org"}}},
		{"email near miss no tld", "user@localhost is not routable", nil},
		{"email near miss numeric tld", "x@example.123", nil},
		{"email near miss no local", "@example.com handle", nil},
		{"email near miss one letter tld", "a@b.c", nil},
		{"email near miss double at", "a@@example.com", nil},
		{"email near miss dash label", "a@-example.com", nil},
		// phones
		{"phone nanp dashes", "call 555-123-4567 now", []found{{"phone", "555-123-4567"}}},
		{"phone nanp parens", "call (555) 123-4567.", []found{{"phone", "(555) 123-4567"}}},
		{"phone nanp in parens", "home (555-123-4567)", []found{{"phone", "555-123-4567"}}},
		{"phone nanp leading 1", "1 555 123 4567", []found{{"phone", "1 555 123 4567"}}},
		{"phone international", "+44 20 7946 0958 office", []found{{"phone", "+44 20 7946 0958"}}},
		{"phone international compact", "tel:+14155552671", []found{{"phone", "+14155552671"}}},
		{"phone near miss date", "on 2024-01-15 at noon", nil},
		{"phone near miss plain digits", "id 1700000000 seconds", nil},
		{"phone near miss too long", "555-123-4567-8901", nil},
		{"phone near miss short plus", "+49 123", nil},
		{"phone near miss glued", "x555-123-4567", nil},
		// payment cards
		{"card", "card 4111 1111 1111 1111 exp", []found{{"credit_card", "4111 1111 1111 1111"}}},
		{"card dashes", "4012-8888-8888-1881", []found{{"credit_card", "4012-8888-8888-1881"}}},
		{"card compact amex", "amex 378282246310005.", []found{{"credit_card", "378282246310005"}}},
		{"card near miss luhn", "card 4111 1111 1111 1112 exp", nil},
		{"card near miss too short", "4111 1111 1111", nil},
		{"card near miss glued", "A4111111111111111", nil},
		{"card near miss first digit", "9111111111111111", nil},
		// SSN
		{"ssn", "ssn 123-45-6789.", []found{{"ssn", "123-45-6789"}}},
		{"ssn spaces", "ssn 123 45 6789", []found{{"ssn", "123 45 6789"}}},
		{"ssn near miss area 000", "000-12-3456", nil},
		{"ssn near miss area 666", "666-12-3456", nil},
		{"ssn near miss area 9xx", "912-12-3456", nil},
		{"ssn near miss group 00", "123-00-4567", nil},
		{"ssn near miss mixed separators", "123-45 6789", nil},
		{"ssn near miss longer", "123-45-6789-1", nil},
		// IBAN
		{"iban compact", "pay DE89370400440532013000 now", []found{{"iban", "DE89370400440532013000"}}},
		{"iban grouped", "IBAN: GB82 WEST 1234 5698 7654 32.", []found{{"iban", "GB82 WEST 1234 5698 7654 32"}}},
		{"iban grouped then word", "DE89 3704 0044 0532 0130 00 TO ME", []found{{"iban", "DE89 3704 0044 0532 0130 00"}}},
		{"iban near miss checksum", "DE89370400440532013001", nil},
		{"iban near miss grouped checksum", "GB82 WEST 1234 5698 7654 33", nil},
		{"iban near miss lowercase", "de89370400440532013000", nil},
		// IP
		{"ipv4", "host 192.168.1.20.", []found{{"ip", "192.168.1.20"}}},
		{"ipv6", "addr 2001:db8::8a2e:370:7334 up", []found{{"ip", "2001:db8::8a2e:370:7334"}}},
		{"ipv6 loopback", "bind ::1 ok", []found{{"ip", "::1"}}},
		{"ip near miss octet", "999.1.1.1", nil},
		{"ip near miss five parts", "1.2.3.4.5", nil},
		{"ip near miss version", "v1.2.3.4", nil},
		{"ip near miss time", "at 12:30:45", nil},
		{"ip near miss hex words", "dead::beef", nil},
		// secrets
		{"openai key", "key sk-proj-abcdefghijklmnopqrstuvwx1234 ok", []found{{"secret", "sk-proj-abcdefghijklmnopqrstuvwx1234"}}},
		{"anthropic key", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_x", []found{{"secret", "sk-ant-api03-AbCdEfGhIjKlMnOpQrStUvWxYz0123456789-_x"}}},
		{"aws key", "AKIAIOSFODNN7EXAMPLE", []found{{"secret", "AKIAIOSFODNN7EXAMPLE"}}},
		{"github token", "ghp_1234567890abcdefghijklmnopqrstuvwxyz", []found{{"secret", "ghp_1234567890abcdefghijklmnopqrstuvwxyz"}}},
		{"github pat", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz", []found{{"secret", "github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuvwxyz"}}},
		{"slack token", "xoxb-1234567890-abcdefghij", []found{{"secret", "xoxb-1234567890-abcdefghij"}}},
		{"google key", "AIzaSyD-1234567890abcdefghijklmnopqrstu", []found{{"secret", "AIzaSyD-1234567890abcdefghijklmnopqrstu"}}},
		{"stripe key", "sk_live_4eC39HqLyjWDarjtT1zdp7dc", []found{{"secret", "sk_live_4eC39HqLyjWDarjtT1zdp7dc"}}},
		{"jwt", "Bearer eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U.",
			[]found{{"secret", "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0NTY3ODkwIn0.dozjgNryP4J3jVmNHl0w5N_XgL0n3I9PlFUP0THsR8U"}}},
		{"pem", "k:\n-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----\nbye",
			[]found{{"secret", "-----BEGIN RSA PRIVATE KEY-----\nMIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu\n-----END RSA PRIVATE KEY-----"}}},
		{"pem unterminated", "-----BEGIN PRIVATE KEY-----\nMIIEvQ", []found{{"secret", "-----BEGIN PRIVATE KEY-----\nMIIEvQ"}}},
		{"secret near miss short", "sk-short", nil},
		{"secret near miss glued", "task-sk-abcdefghijklmnopqrstuvwx1234", nil},
		{"secret near miss aws length", "AKIAIOSFODNN7EXAMPLEX", nil},
		{"secret near miss certificate", "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----", nil},
		// several
		{"mixed", "a@b.io, 555-123-4567 and 10.0.0.1", []found{{"email", "a@b.io"}, {"phone", "555-123-4567"}, {"ip", "10.0.0.1"}}},
		{"nothing", "Hello, world! The meeting is at 10:30 in room 42.", nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := matches(g, tc.in)
			if !slices.Equal(got, tc.want) {
				t.Errorf("matches(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestPIIRedactPlaceholder(t *testing.T) {
	g := newPII(t, "redact", nil).tg
	got := batchRedact(g, "mail a@example.com or call +1 415 555 2671")
	want := "mail [REDACTED:email] or call [REDACTED:phone]"
	if got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
	// Unchanged text is returned as is.
	in := "nothing to see"
	if out := batchRedact(g, in); out != in {
		t.Fatalf("got %q", out)
	}
}

func TestPIIDetectSubset(t *testing.T) {
	g := newPII(t, "redact", nil, "email").tg
	if got := matches(g, "a@example.com 555-123-4567"); len(got) != 1 || got[0].cat != "email" {
		t.Fatalf("got %v", got)
	}
}

func TestLuhnAndIBAN(t *testing.T) {
	digits := func(s string) []byte {
		var b []byte
		for i := range s {
			b = append(b, s[i]-'0')
		}
		return b
	}
	for _, s := range []string{"4111111111111111", "5555555555554444", "378282246310005", "6011111111111117"} {
		if !luhn(digits(s)) {
			t.Errorf("luhn(%s) = false", s)
		}
	}
	for _, s := range []string{"4111111111111112", "1234567812345678"} {
		if luhn(digits(s)) {
			t.Errorf("luhn(%s) = true", s)
		}
	}
	for _, s := range []string{"DE89370400440532013000", "GB82WEST12345698765432", "FR1420041010050500013M02606", "NL91 ABNA 0417 1643 00"} {
		if !ibanValid(s) {
			t.Errorf("ibanValid(%s) = false", s)
		}
	}
	for _, s := range []string{"DE89370400440532013001", "GB82WEST12345698765433"} {
		if ibanValid(s) {
			t.Errorf("ibanValid(%s) = true", s)
		}
	}
}

func TestPIIBlockAndLog(t *testing.T) {
	blk := newPII(t, "block", nil).tg
	if _, blocked := blk.checkText("my ip is 10.1.2.3", func(int) {}); !blocked {
		t.Fatal("not blocked")
	}
	lg := newPII(t, "log", nil).tg
	var cats []string
	out, blocked := lg.checkText("x@example.com and y@example.com", func(d int) { cats = append(cats, lg.cat[d]) })
	if blocked || out != "x@example.com and y@example.com" || strings.Join(cats, ",") != "email" {
		t.Fatalf("out=%q blocked=%v cats=%v", out, blocked, cats)
	}
}

func TestNextDigit(t *testing.T) {
	s := "abcdefghijklmnopqrstuvwxyz ABCDEFGHIJKLMNOPQRSTUVWXYZ /:@[`{~\x7f\x80\xff\xb0\xb9é✓0 and 9"
	for i := 0; i <= len(s); i++ {
		want := len(s)
		for j := i; j < len(s); j++ {
			if s[j] >= '0' && s[j] <= '9' {
				want = j
				break
			}
		}
		if got := nextDigit(s, i); got != want {
			t.Fatalf("nextDigit(s, %d) = %d, want %d", i, got, want)
		}
	}
}

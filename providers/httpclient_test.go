package providers

import (
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"
)

// TestUnreachableMessage: a client learns which provider could not be
// reached and why, but not the gateway's own addresses or resolvers.
func TestUnreachableMessage(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	c := &Client{HTTP: &http.Client{Transport: NewTransport(0)}, Name: "local"}
	req, _ := http.NewRequest("GET", "http://"+addr+"/v1/models", nil)
	_, err = c.Do(context.Background(), req)
	var pe *Error
	if !errors.As(err, &pe) || pe.Err.Status != http.StatusBadGateway || pe.Err.Code != "upstream_unreachable" {
		t.Fatalf("err = %#v", err)
	}
	if want := `provider "local" unreachable: connection refused`; pe.Err.Message != want {
		t.Errorf("message = %q, want %q", pe.Err.Message, want)
	}
	if strings.Contains(pe.Err.Message, "127.0.0.1") {
		t.Errorf("message names an address: %q", pe.Err.Message)
	}

	for _, tc := range []struct {
		err  error
		want string
	}{
		{&net.OpError{Op: "dial", Net: "tcp", Err: &net.DNSError{Err: "no such host", Name: "api.example.com", Server: "10.255.255.53:53"}},
			`cannot resolve host "api.example.com"`},
		{&net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}, "connection reset"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.EHOSTUNREACH)}, "no route to host"},
		{&net.OpError{Op: "dial", Net: "tcp", Err: errors.New("something odd at 10.1.2.3")}, "cannot connect"},
		{errors.New("tls: handshake failure with 10.1.2.3"), "connection failed"},
	} {
		if got := unreachableCause(tc.err); got != tc.want {
			t.Errorf("unreachableCause(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	cases := map[string]time.Duration{
		"":                              0,
		"3":                             3 * time.Second,
		"0.5":                           500 * time.Millisecond,
		"-1":                            0,
		"soon":                          0,
		"Thu, 01 Jan 2026 00:00:10 GMT": 10 * time.Second,
	}
	for in, want := range cases {
		if got := ParseRetryAfter(in, now); got != want {
			t.Errorf("ParseRetryAfter(%q) = %s, want %s", in, got, want)
		}
	}
}

package openai

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

func readAll(t *testing.T, er *EventReader) (names, datas []string, err error) {
	t.Helper()
	for {
		ev, e := er.Next()
		if e != nil {
			return names, datas, e
		}
		names = append(names, string(ev.Name))
		datas = append(datas, string(ev.Data))
	}
}

func TestEventReader(t *testing.T) {
	cases := []struct {
		name  string
		in    string
		datas []string
		names []string
	}{
		{"lf", "data: a\n\ndata: b\n\n", []string{"a", "b"}, []string{"", ""}},
		{"crlf", "data: a\r\n\r\ndata: b\r\n\r\n", []string{"a", "b"}, []string{"", ""}},
		{"cr", "data: a\r\rdata: b\r\r\n", []string{"a", "b"}, []string{"", ""}},
		{"no space after colon", "data:a\n\n", []string{"a"}, []string{""}},
		{"multi-line data", "data: a\ndata: b\n\n", []string{"a\nb"}, []string{""}},
		{"comments and ids skipped", ": ping\nid: 7\nretry: 100\ndata: x\n\n: bye\n\n", []string{"x"}, []string{""}},
		{"event names", "event: message_start\ndata: {}\n\nevent: ping\ndata: {\"type\":\"ping\"}\n\n", []string{"{}", `{"type":"ping"}`}, []string{"message_start", "ping"}},
		{"event without data skipped", "event: x\n\ndata: y\n\n", []string{"y"}, []string{""}},
		{"empty data field", "data\n\n", []string{""}, []string{""}},
		{"final event without blank line", "data: a\n\ndata: b", []string{"a", "b"}, []string{"", ""}},
		{"leading blank lines", "\n\n\ndata: a\n\n", []string{"a"}, []string{""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			names, datas, err := readAll(t, NewEventReader(strings.NewReader(tc.in)))
			if err != io.EOF {
				t.Fatalf("err = %v, want io.EOF", err)
			}
			if strings.Join(datas, "|") != strings.Join(tc.datas, "|") || strings.Join(names, "|") != strings.Join(tc.names, "|") {
				t.Errorf("got data %q names %q, want %q %q", datas, names, tc.datas, tc.names)
			}
		})
	}
}

func TestEventReaderLongLines(t *testing.T) {
	long := strings.Repeat("x", 10000)
	in := "data: " + long + "\n\ndata: short\n\n"
	er := NewEventReader(bufio.NewReaderSize(strings.NewReader(in), 16))
	_, datas, err := readAll(t, er)
	if err != io.EOF || len(datas) != 2 || datas[0] != long || datas[1] != "short" {
		t.Fatalf("err %v, %d events", err, len(datas))
	}

	er = NewEventReader(bufio.NewReaderSize(strings.NewReader(in), 16))
	er.MaxEventSize = 1000
	if _, err := er.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
	// Many data lines add up too.
	er = NewEventReader(strings.NewReader(strings.Repeat("data: 0123456789\n", 200) + "\n"))
	er.MaxEventSize = 1000
	if _, err := er.Next(); !errors.Is(err, ErrEventTooLarge) {
		t.Fatalf("err = %v, want ErrEventTooLarge", err)
	}
}

func TestEventReaderBuffered(t *testing.T) {
	cases := []struct {
		name     string
		buffered string
		want     bool
	}{
		{"nothing", "", false},
		{"complete data event", "data: a\n\n", true},
		{"complete crlf event", "data: a\r\n\r\n", true},
		{"incomplete event", "data: a\n", false},
		{"incomplete line", "data: a", false},
		{"only a comment", ": keep-alive\n\n", false},
		{"comment then data", ": keep-alive\n\ndata: b\n\n", true},
		{"comment then incomplete", ": keep-alive\n\ndata: b\n", false},
		{"event name only", "event: ping\n\n", false},
		{"datax is not data", "datax: 1\n\n", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// The first event is read; what follows stays buffered.
			br := bufio.NewReaderSize(strings.NewReader("data: first\n\n"+tc.buffered), 4096)
			er := NewEventReader(br)
			if _, err := er.Next(); err != nil {
				t.Fatal(err)
			}
			if got := er.Buffered(); got != tc.want {
				t.Errorf("Buffered() = %v, want %v", got, tc.want)
			}
		})
	}
}

// FuzzEventReader feeds arbitrary bytes: Next must not panic, must end,
// and must never return more data than it was given.
func FuzzEventReader(f *testing.F) {
	f.Add([]byte("data: a\n\ndata: b\r\n\r\n"))
	f.Add([]byte("event: x\ndata: {}\n\n: c\n\ndata"))
	f.Add([]byte("\r\r\rdata:\r\n"))
	f.Fuzz(func(t *testing.T, in []byte) {
		er := NewEventReader(bufio.NewReaderSize(bytes.NewReader(in), 16))
		total := 0
		for i := 0; i <= len(in)+1; i++ {
			ev, err := er.Next()
			if err != nil {
				return
			}
			_ = er.Buffered()
			total += len(ev.Data)
			if total > len(in) {
				t.Fatalf("read %d bytes of data from %d bytes of input", total, len(in))
			}
		}
		t.Fatalf("more events than bytes of input")
	})
}

// FuzzEventRoundTrip writes events with AppendEvent and reads them back.
func FuzzEventRoundTrip(f *testing.F) {
	f.Add("hello", "world", 7)
	f.Fuzz(func(t *testing.T, a, b string, size int) {
		if strings.ContainsAny(a+b, "\r\n") {
			return
		}
		var buf []byte
		buf = AppendEvent(buf, []byte(a))
		buf = AppendEvent(buf, []byte(b))
		if size < 16 {
			size = 16
		}
		er := NewEventReader(bufio.NewReaderSize(bytes.NewReader(buf), size%4096+16))
		for _, want := range []string{a, b} {
			ev, err := er.Next()
			if err != nil {
				t.Fatal(err)
			}
			// A single leading space is part of the field separator.
			if got := string(ev.Data); got != want && !(strings.HasPrefix(want, " ") && got == want) {
				t.Fatalf("data = %q, want %q", got, want)
			}
		}
		if _, err := er.Next(); err != io.EOF {
			t.Fatalf("err = %v, want EOF", err)
		}
	})
}

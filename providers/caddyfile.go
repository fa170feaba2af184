package providers

import (
	"bufio"
	"io"
	"strconv"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
)

// Namer is implemented by providers that use their configured name in
// error messages; the gateway calls SetName after loading them.
type Namer interface {
	SetName(name string)
}

// ParseString reads the one argument of the current Caddyfile line into s.
func ParseString(d *caddyfile.Dispenser, s *string) error {
	if !d.NextArg() {
		return d.ArgErr()
	}
	*s = d.Val()
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// ParseDuration reads the one duration argument of the current line.
func ParseDuration(d *caddyfile.Dispenser, dur *caddy.Duration) error {
	directive := d.Val()
	var s string
	if err := ParseString(d, &s); err != nil {
		return err
	}
	v, err := caddy.ParseDuration(s)
	if err != nil {
		return d.Errf("parsing %s duration %q: %v", directive, s, err)
	}
	if v <= 0 {
		return d.Errf("%s must be positive, got %q", directive, s)
	}
	*dur = caddy.Duration(v)
	return nil
}

// ParseInt reads the one non-negative integer argument of the current line.
func ParseInt(d *caddyfile.Dispenser, n *int) error {
	var s string
	if err := ParseString(d, &s); err != nil {
		return err
	}
	v, err := strconv.Atoi(s)
	if err != nil || v < 0 {
		return d.Errf("expected a non-negative integer, got %q", s)
	}
	*n = v
	return nil
}

// ParseBool reads an on/off (or true/false) argument of the current line.
func ParseBool(d *caddyfile.Dispenser, b **bool) error {
	var s string
	if err := ParseString(d, &s); err != nil {
		return err
	}
	var v bool
	switch s {
	case "on", "true", "yes":
		v = true
	case "off", "false", "no":
		v = false
	default:
		return d.Errf("expected on or off, got %q", s)
	}
	*b = &v
	return nil
}

func bufioReader(r io.Reader) *bufio.Reader { return bufio.NewReaderSize(r, streamBufferSize) }

package handlers

import (
	"io"
	"net/http"
	"net/textproto"
	"strings"
	"sync"
)

// hopByHop are the headers that belong to one connection (RFC 9110 §7.6.1)
// and are never forwarded, in either direction; headers named in
// Connection are dropped too.
var hopByHop = []string{
	"Connection", "Keep-Alive", "Proxy-Connection", "Proxy-Authenticate", "Proxy-Authorization",
	"Te", "Trailer", "Transfer-Encoding", "Upgrade",
}

// credentials are the client's headers that the provider's key replaces,
// plus what the gateway's client sets itself.
var credentials = []string{
	"Authorization", "Cookie", "Api-Key", "X-Api-Key", "X-Goog-Api-Key",
	"Openai-Organization", "Openai-Project", "Content-Length", "Accept-Encoding", "Host",
}

// isUpgrade reports whether a request asks to switch protocols (WebSocket).
func isUpgrade(h http.Header) bool {
	return h.Get("Upgrade") != "" && headerHasToken(h, "Connection", "upgrade")
}

// forwardHeader returns the client's headers as they go upstream: without
// credentials and hop-by-hop headers; an upgrade keeps its Upgrade and
// Connection: Upgrade.
func forwardHeader(in http.Header, upgrade bool) http.Header {
	h := in.Clone()
	proto := h.Get("Upgrade")
	dropHopByHop(h, false)
	for _, k := range credentials {
		h.Del(k)
	}
	if upgrade {
		h.Set("Connection", "Upgrade")
		h.Set("Upgrade", proto)
	}
	return h
}

// dropHopByHop removes the hop-by-hop headers of h and those its
// Connection header names; keepUpgrade keeps Upgrade and Connection
// (an answer that switches protocols).
func dropHopByHop(h http.Header, keepUpgrade bool) {
	for _, v := range h["Connection"] {
		for _, name := range strings.Split(v, ",") {
			name = textproto.TrimString(name)
			if name != "" && !(keepUpgrade && strings.EqualFold(name, "upgrade")) {
				h.Del(name)
			}
		}
	}
	for _, k := range hopByHop {
		if keepUpgrade && (k == "Connection" || k == "Upgrade") {
			continue
		}
		h.Del(k)
	}
	if keepUpgrade {
		h.Set("Connection", "Upgrade")
	}
}

func headerHasToken(h http.Header, name, token string) bool {
	for _, v := range h[name] {
		for _, t := range strings.Split(v, ",") {
			if strings.EqualFold(textproto.TrimString(t), token) {
				return true
			}
		}
	}
	return false
}

// relayUpgrade finishes a protocol switch (WebSocket): the client gets the
// upstream's 101, then bytes are copied both ways until either side
// closes. The call's Duration then covers the whole session.
func relayUpgrade(c *Call, upstream *http.Response) {
	up, ok := upstream.Body.(io.ReadWriteCloser)
	if !ok {
		c.Status = http.StatusBadGateway
		return
	}
	defer up.Close()
	c.w.WriteHeader(http.StatusSwitchingProtocols)
	conn, brw, err := http.NewResponseController(c.w).Hijack()
	if err != nil {
		c.g.debug("cannot take over the client connection for an upgrade")
		return
	}
	defer conn.Close()
	if err := brw.Flush(); err != nil {
		return
	}
	var once sync.Once
	done := make(chan struct{})
	stop := func() { once.Do(func() { close(done) }) }
	go func() {
		// What the client sent after its request, possibly buffered, first.
		_, _ = io.Copy(up, brw.Reader)
		stop()
	}()
	go func() {
		_, _ = io.Copy(conn, up)
		stop()
	}()
	<-done
}

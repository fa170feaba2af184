package providers

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"syscall"
	"time"

	"github.com/polygate/polygate/openai"
	"github.com/polygate/polygate/telemetry"
)

// Defaults shared by the provider types.
const (
	// DefaultTimeout bounds one upstream call, a whole stream included: 10m.
	DefaultTimeout = 10 * time.Minute
	// DefaultMaxIdleConnsPerHost is how many idle connections are kept per
	// upstream host: 1024, so peak concurrency reuses connections.
	DefaultMaxIdleConnsPerHost = 1024
	// MaxResponseBody bounds a non-streamed upstream answer: 64 MiB.
	MaxResponseBody = 64 << 20
	// maxErrorBody bounds how much of an upstream error body is read.
	maxErrorBody = 64 << 10
	// streamBufferSize is the read buffer of one upstream stream: small, so
	// that many open streams stay cheap (longer events are assembled).
	streamBufferSize = 2048
	// transportWriteBuffer is a connection's write buffer: a typical chat
	// request (headers and body) still leaves in one write, and an idle or
	// streaming connection holds little.
	transportWriteBuffer = 2048
	// transportReadBuffer is a connection's read buffer. Bodies are read
	// through larger buffers of their own (a stream's event reader, a whole
	// answer), which bufio fills directly, so this one mostly holds headers.
	transportReadBuffer = 1024
)

// NewTransport returns the HTTP transport providers use: proxy from the
// environment, HTTP/2 when the upstream offers it, small per-connection
// buffers (2 KiB write, 1 KiB read: memory per open stream) and maxIdlePerHost idle connections per host (0 means
// DefaultMaxIdleConnsPerHost).
func NewTransport(maxIdlePerHost int) *http.Transport {
	if maxIdlePerHost <= 0 {
		maxIdlePerHost = DefaultMaxIdleConnsPerHost
	}
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   10 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          0,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		WriteBufferSize:       transportWriteBuffer,
		ReadBufferSize:        transportReadBuffer,
	}
}

// Client sends requests upstream and turns every failure into an *Error in
// OpenAI's shape: unreachable → 502, timed out → 504, an upstream error
// status → that status with the upstream's message.
type Client struct {
	// HTTP sends the requests.
	HTTP *http.Client
	// Timeout bounds a whole call, streams included; 0 means DefaultTimeout.
	Timeout time.Duration
	// FirstByteTimeout bounds the wait for the response headers; 0 means
	// only Timeout applies.
	FirstByteTimeout time.Duration
	// Name is the provider's name, used in error messages.
	Name string
	// ParseError reads an upstream error body; nil means openai.ParseError.
	ParseError func(status int, body []byte) *openai.Error
}

// Do sends req with ctx bounded by the client's timeouts. On success the
// response body's Close also releases the timeout. Every error is an *Error,
// an upstream error status included, except context.Canceled when ctx
// itself was canceled (the client left). When ctx carries a span context
// (Caddy's `tracing`), the request carries it upstream as W3C traceparent.
func (c *Client) Do(ctx context.Context, req *http.Request) (*http.Response, error) {
	return c.checkStatus(c.do(ctx, req))
}

// checkStatus turns an upstream error status into an *Error.
func (c *Client) checkStatus(resp *http.Response, err error) (*http.Response, error) {
	if err != nil {
		return nil, err
	}
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, maxErrorBody))
		parse := c.ParseError
		if parse == nil {
			parse = openai.ParseError
		}
		oe := parse(resp.StatusCode, body)
		oe.Status = resp.StatusCode
		return nil, &Error{Err: oe, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())}
	}
	return resp, nil
}

// call is one upstream request's deadline: the whole call's timeout and
// the optional first-byte timeout.
type call struct {
	ctx       context.Context
	cancel    context.CancelFunc
	timeout   time.Duration
	firstByte *time.Timer
	fired     chan struct{} // closed when the first-byte timeout fired
}

// begin starts a call's deadline under parent.
func (c *Client) begin(parent context.Context) *call {
	k := &call{timeout: c.Timeout}
	if k.timeout <= 0 {
		k.timeout = DefaultTimeout
	}
	k.ctx, k.cancel = context.WithTimeout(parent, k.timeout)
	if c.FirstByteTimeout > 0 {
		ctx2, cancel2 := context.WithCancel(k.ctx)
		parentCancel := k.cancel
		k.cancel = func() { cancel2(); parentCancel() }
		k.fired = make(chan struct{})
		k.firstByte = time.AfterFunc(c.FirstByteTimeout, func() { close(k.fired); cancel2() })
		k.ctx = ctx2
	}
	return k
}

func (c *Client) do(ctx context.Context, req *http.Request) (*http.Response, error) {
	k := c.begin(ctx)
	return c.send(k, req.Context(), req.WithContext(k.ctx))
}

// send sends out, whose context is k's; parent is the caller's context.
func (c *Client) send(k *call, parent context.Context, out *http.Request) (*http.Response, error) {
	telemetry.InjectRequest(k.ctx, out) // traceparent, when the request is traced
	resp, err := c.roundTrip(out)
	if k.firstByte != nil {
		k.firstByte.Stop()
	}
	if err != nil {
		k.cancel()
		if k.fired != nil {
			select {
			case <-k.fired:
				return nil, c.fail(http.StatusGatewayTimeout, openai.TypeTimeout, "upstream_timeout",
					fmt.Sprintf("provider %q sent no response within %s", c.Name, c.FirstByteTimeout))
			default:
			}
		}
		return nil, c.transportError(parent, err, k.timeout)
	}
	if rw, ok := resp.Body.(io.ReadWriteCloser); ok && resp.StatusCode == http.StatusSwitchingProtocols {
		// An upgraded connection (WebSocket) stays writable.
		resp.Body = &cancelConn{ReadWriteCloser: rw, cancel: k.cancel}
		return resp, nil
	}
	resp.Body = &cancelBody{ReadCloser: resp.Body, cancel: k.cancel}
	return resp, nil
}

// roundTrip sends req through the client's transport directly when the
// client adds nothing to it (no cookie jar, redirect policy, timeout of
// its own, or credentials in the URL): upstream APIs answer, they do not
// redirect, and http.Client would copy the headers of every request for
// redirects that never come. Otherwise it goes through the client.
func (c *Client) roundTrip(req *http.Request) (*http.Response, error) {
	hc := c.HTTP
	if hc.Jar != nil || hc.CheckRedirect != nil || hc.Timeout != 0 || req.URL.User != nil {
		return hc.Do(req)
	}
	rt := hc.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	if req.Header == nil {
		req.Header = make(http.Header)
	}
	return rt.RoundTrip(req)
}

// Post sends body to target with Do. header holds the provider's constant
// headers and is shared read-only; extra (client headers worth forwarding)
// are added where header sets none.
func (c *Client) Post(ctx context.Context, target string, body []byte, header, extra http.Header) (*http.Response, error) {
	k := c.begin(ctx)
	hr, err := http.NewRequestWithContext(k.ctx, http.MethodPost, target, bytes.NewReader(body))
	if err != nil {
		k.cancel()
		return nil, c.InvalidResponse(err.Error())
	}
	hr.Header = header
	if len(extra) > 0 {
		hr.Header = header.Clone()
		for k, v := range extra {
			if hr.Header.Get(k) == "" {
				hr.Header[k] = v
			}
		}
	}
	return c.checkStatus(c.send(k, ctx, hr))
}

// ReadBody reads a complete non-streamed answer, bounded by MaxResponseBody.
func (c *Client) ReadBody(resp *http.Response) ([]byte, error) {
	defer resp.Body.Close()
	if n := resp.ContentLength; n > 0 && n <= MaxResponseBody {
		// The body reader stops at Content-Length.
		buf := make([]byte, n)
		if _, err := io.ReadFull(resp.Body, buf); err != nil {
			return nil, c.transportError(context.Background(), err, c.Timeout)
		}
		return buf, nil
	}
	w := new(bytes.Buffer)
	_, err := w.ReadFrom(io.LimitReader(resp.Body, MaxResponseBody+1))
	if err != nil {
		return nil, c.transportError(context.Background(), err, c.Timeout)
	}
	if w.Len() > MaxResponseBody {
		return nil, c.fail(http.StatusBadGateway, openai.TypeUpstream, "upstream_invalid_response",
			fmt.Sprintf("provider %q answered with more than %d bytes", c.Name, MaxResponseBody))
	}
	return w.Bytes(), nil
}

// InvalidResponse is the error for an upstream answer that cannot be read.
func (c *Client) InvalidResponse(what string) *Error {
	return c.fail(http.StatusBadGateway, openai.TypeUpstream, "upstream_invalid_response",
		fmt.Sprintf("provider %q sent an invalid response: %s", c.Name, what))
}

// CheckEventStream verifies that resp is a server-sent event stream.
func (c *Client) CheckEventStream(resp *http.Response) error {
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "text/event-stream" {
		return nil
	}
	resp.Body.Close()
	ct := resp.Header.Get("Content-Type")
	if ct == "" {
		ct = "none"
	}
	return c.InvalidResponse("a streamed request was answered with Content-Type " + strconv.Quote(ct) + ", not text/event-stream")
}

func (c *Client) fail(status int, typ, code, msg string) *Error {
	return &Error{Err: &openai.Error{Status: status, Type: typ, Code: code, Message: msg}}
}

// transportError classifies a failure to get or read a response. The
// request URL is never part of the message.
func (c *Client) transportError(parent context.Context, err error, timeout time.Duration) error {
	if parent.Err() != nil {
		return context.Canceled
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var ne net.Error
	if errors.Is(err, context.DeadlineExceeded) || errors.As(err, &ne) && ne.Timeout() {
		return c.fail(http.StatusGatewayTimeout, openai.TypeTimeout, "upstream_timeout",
			fmt.Sprintf("provider %q did not answer within %s", c.Name, timeout))
	}
	return c.fail(http.StatusBadGateway, openai.TypeUpstream, "upstream_unreachable",
		fmt.Sprintf("provider %q unreachable: %s", c.Name, unreachableCause(err)))
}

// unreachableCause says why a provider could not be reached, in words fit
// for a client: the kind of failure and the upstream host, never the
// gateway's own addresses or resolvers.
func unreachableCause(err error) string {
	var dns *net.DNSError
	switch {
	case errors.As(err, &dns):
		return fmt.Sprintf("cannot resolve host %q", dns.Name)
	case errors.Is(err, syscall.ECONNREFUSED):
		return "connection refused"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "connection reset"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed before an answer"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "no route to host"
	}
	var op *net.OpError
	if errors.As(err, &op) && op.Op == "dial" {
		return "cannot connect"
	}
	return "connection failed"
}

// StreamError turns a failure while reading a stream into an *Error.
func (c *Client) StreamError(parent context.Context, err error) error {
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return c.fail(http.StatusBadGateway, openai.TypeUpstream, "upstream_stream_cut",
			fmt.Sprintf("provider %q ended the stream early", c.Name))
	}
	if errors.Is(err, openai.ErrEventTooLarge) {
		return c.InvalidResponse(err.Error())
	}
	return c.transportError(parent, err, c.Timeout)
}

// ParseRetryAfter reads a Retry-After header (seconds or an HTTP date);
// zero when absent or unreadable.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.ParseFloat(v, 64); err == nil {
		if s <= 0 {
			return 0
		}
		return time.Duration(s * float64(time.Second))
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// cancelBody releases the call's context when the body is closed.
type cancelBody struct {
	io.ReadCloser
	cancel context.CancelFunc
}

func (b *cancelBody) Close() error {
	err := b.ReadCloser.Close()
	b.cancel()
	return err
}

// cancelConn is cancelBody for the connection of a 101 Switching Protocols
// answer, which is an io.ReadWriteCloser.
type cancelConn struct {
	io.ReadWriteCloser
	cancel context.CancelFunc
}

func (c *cancelConn) Close() error {
	err := c.ReadWriteCloser.Close()
	c.cancel()
	return err
}

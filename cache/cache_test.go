package cache

import (
	"bytes"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

func testKey(t testing.TB, content string) Key {
	t.Helper()
	k, ok := MakeKey("chat/completions", "m", "", []byte(`{"messages":[{"role":"user","content":"`+content+`"}]}`))
	if !ok {
		t.Fatal("MakeKey refused a valid body")
	}
	return k
}

func TestGetSetHitMiss(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := testKey(t, "hello")
	if _, ok := c.Get(k); ok {
		t.Fatal("hit in an empty cache")
	}
	body := []byte(`{"id":"chatcmpl-1","object":"chat.completion"}`)
	before := time.Now()
	if !c.Set(k, Entry{Body: body}) {
		t.Fatal("Set refused a small entry")
	}
	c.Wait()
	e, ok := c.Get(k)
	if !ok {
		t.Fatal("miss after Set and Wait")
	}
	if !bytes.Equal(e.Body, body) {
		t.Errorf("body = %s", e.Body)
	}
	if e.Stored.Before(before) || e.Stored.After(time.Now()) {
		t.Errorf("Stored = %v, not set by Set", e.Stored)
	}
	if _, ok := c.Get(testKey(t, "hello!")); ok {
		t.Error("hit for another key")
	}
	// A second Set replaces the entry.
	c.Set(k, Entry{Body: []byte(`{"id":"chatcmpl-2"}`)})
	c.Wait()
	if e, _ := c.Get(k); string(e.Body) != `{"id":"chatcmpl-2"}` {
		t.Errorf("after replacing, body = %s", e.Body)
	}
	if used := c.Used(); used != int64(len(`{"id":"chatcmpl-2"}`))+EntryOverhead {
		t.Errorf("Used = %d after replacing the only entry", used)
	}
}

func TestGetVerifiesWholeKey(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := testKey(t, "x")
	c.Set(k, Entry{Body: []byte("{}")})
	c.Wait()
	other := k
	other[15] ^= 1 // same ristretto hash, different key
	if _, ok := c.Get(other); ok {
		t.Error("a key sharing 64 bits with a stored one hit")
	}
}

func TestTTLExpiry(t *testing.T) {
	const ttl = 300 * time.Millisecond
	c, err := New(Config{TTL: caddyDuration(ttl)})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	k := testKey(t, "ttl")
	set := time.Now()
	c.Set(k, Entry{Body: []byte("{}")})
	c.Wait()
	if _, ok := c.Get(k); !ok && time.Since(set) < ttl {
		t.Fatal("miss before the ttl passed")
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		if _, ok := c.Get(k); !ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("entry still served long after its ttl")
		}
		time.Sleep(20 * time.Millisecond)
	}
	if elapsed := time.Since(set); elapsed < ttl {
		t.Errorf("entry expired after %v, before its ttl of %v", elapsed, ttl)
	}
}

func TestSizeBoundUnderFlood(t *testing.T) {
	const maxSize = MinMaxSize
	c, err := newCache(Config{MaxSize: maxSize}, true)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	check := func(when string) {
		t.Helper()
		c.Wait()
		if used := c.Used(); used > maxSize || used < 0 {
			t.Fatalf("%s: %d bytes used, bound %d", when, used, maxSize)
		}
		m := c.rc.Metrics
		if net := int64(m.CostAdded() - m.CostEvicted()); net > maxSize {
			t.Fatalf("%s: cost added - evicted = %d, bound %d", when, net, maxSize)
		}
	}
	body := func(i, size int) []byte {
		b := bytes.Repeat([]byte{'a' + byte(i%26)}, size)
		copy(b, fmt.Sprintf(`{"n":%d,"x":"`, i))
		b[len(b)-2], b[len(b)-1] = '"', '}'
		return b
	}
	// Distinct large answers from several writers: 12 MiB into 1 MiB.
	keys := make([]Key, 600)
	for i := range keys {
		keys[i] = testKey(t, fmt.Sprint("flood", i))
	}
	var wg sync.WaitGroup
	for w := range 4 {
		wg.Go(func() {
			for i := w * 150; i < (w+1)*150; i++ {
				c.Set(keys[i], Entry{Body: body(i, 20_000+i%7*1000)})
			}
		})
	}
	wg.Wait()
	check("after the flood")
	if c.Used() == 0 {
		t.Fatal("nothing was stored")
	}
	// Replacing entries with bigger answers must not grow past the bound
	// either (ristretto does not evict on in-place updates).
	for i := range 200 {
		c.Set(testKey(t, fmt.Sprint("grow", i%3)), Entry{Body: body(i, 1000+i*1500)})
	}
	check("after growing replacements")
	// An answer bigger than the whole cache is refused.
	if c.Set(testKey(t, "huge"), Entry{Body: make([]byte, maxSize)}) {
		t.Error("Set accepted an entry bigger than max_size")
	}
}

func TestOpenSharesAcrossReloads(t *testing.T) {
	cfg := Config{TTL: caddyDuration(time.Minute), MaxSize: 2 << 20, Scope: ScopeGlobal}
	a, releaseA, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	// The new config of a reload is provisioned before the old is cleaned up.
	b, releaseB, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if a != b {
		t.Fatal("the same config got two caches")
	}
	k := testKey(t, "reload")
	a.Set(k, Entry{Body: []byte("{}")})
	a.Wait()
	releaseA()
	releaseA() // idempotent: must not drop b's reference
	if _, ok := b.Get(k); !ok {
		t.Fatal("entry lost when the old config released the cache")
	}

	changed := cfg
	changed.TTL = caddyDuration(2 * time.Minute)
	c, releaseC, err := Open(changed)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseC()
	if c == b {
		t.Fatal("a changed config got the old cache")
	}
	if _, ok := c.Get(k); ok {
		t.Error("a new cache has the old entries")
	}

	// Defaults written out are the same config as defaults left unset.
	d1, r1, err := Open(Config{})
	if err != nil {
		t.Fatal(err)
	}
	d2, r2, err := Open(Config{TTL: caddyDuration(DefaultTTL), MaxSize: DefaultMaxSize, Scope: ScopeKey})
	if err != nil {
		t.Fatal(err)
	}
	if d1 != d2 {
		t.Error("explicit defaults got another cache than unset ones")
	}
	r1()
	r2()

	releaseB()
	if _, ok := b.Get(k); ok {
		t.Error("cache still serves after its last user released it")
	}
	if b.Set(k, Entry{Body: []byte("{}")}) {
		t.Error("Set accepted after close")
	}
	b.Wait() // no-op, no panic
	again, releaseAgain, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer releaseAgain()
	if again == b {
		t.Error("Open returned a closed cache")
	}

	if _, _, err := Open(Config{Scope: "team"}); err == nil || !strings.Contains(err.Error(), "scope") {
		t.Errorf("Open with a bad scope: err = %v", err)
	}
}

func TestCloseWhileInUse(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	k := testKey(t, "busy")
	var wg sync.WaitGroup
	stop := make(chan struct{})
	for range 4 {
		wg.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				c.Set(k, Entry{Body: []byte("{}")})
				c.Get(k)
			}
		})
	}
	time.Sleep(10 * time.Millisecond)
	c.Close()
	close(stop)
	wg.Wait()
	c.Close() // idempotent
	if _, ok := c.Get(k); ok {
		t.Error("hit after Close")
	}
}

func TestConfigDefaultsAndValidation(t *testing.T) {
	c, err := New(Config{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	got := c.Config()
	if got.TTL != caddyDuration(10*time.Minute) || got.MaxSize != 64<<20 || got.Scope != ScopeKey {
		t.Errorf("defaults = %+v", got)
	}
	if c.TTL() != 10*time.Minute {
		t.Errorf("TTL() = %v", c.TTL())
	}
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{TTL: -1}, "ttl"},
		{Config{MaxSize: 1000}, "max_size"},
		{Config{Scope: "user"}, "scope"},
	} {
		if _, err := New(tc.cfg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("New(%+v): err = %v, want one naming %s", tc.cfg, err, tc.want)
		}
	}
}

func TestParseCacheControl(t *testing.T) {
	for _, tc := range []struct {
		headers          map[string][]string
		noCache, noStore bool
	}{
		{nil, false, false},
		{map[string][]string{"Cache-Control": {"no-cache"}}, true, false},
		{map[string][]string{"Cache-Control": {"No-Cache"}}, true, false},
		{map[string][]string{"Cache-Control": {"no-store"}}, true, true},
		{map[string][]string{"Cache-Control": {"max-age=60, no-store"}}, true, true},
		{map[string][]string{"Cache-Control": {"private", "no-cache"}}, true, false},
		{map[string][]string{"Cache-Control": {"max-age=0"}}, true, false},
		{map[string][]string{"Cache-Control": {"max-age=600"}}, false, false},
		{map[string][]string{"Cache-Control": {"no-transform"}}, false, false},
		{map[string][]string{"Cache-Control": {`no-cache="set-cookie"`}}, true, false},
		{map[string][]string{"Pragma": {"no-cache"}}, true, false},
		{map[string][]string{"Pragma": {"no-cache"}, "Cache-Control": {"max-age=60"}}, false, false},
	} {
		h := http.Header{}
		for k, vs := range tc.headers {
			for _, v := range vs {
				h.Add(k, v)
			}
		}
		noCache, noStore := ParseCacheControl(h)
		if noCache != tc.noCache || noStore != tc.noStore {
			t.Errorf("%v: got no-cache %v no-store %v, want %v %v", tc.headers, noCache, noStore, tc.noCache, tc.noStore)
		}
	}
}

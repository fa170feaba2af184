package usage

import (
	"cmp"
	"fmt"
	"math"
	"net/http"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"go.uber.org/zap"
)

// Limit codes of [LimitError], as in OpenAI's error bodies.
const (
	CodeRateLimit         = "rate_limit_exceeded"
	CodeInsufficientQuota = "insufficient_quota"
	CodeModelNotAllowed   = "model_not_allowed"
	CodeInvalidPlan       = "invalid_plan"
)

// LimitError says why [Service.Reserve] refused a request. The host
// answers with StatusCode, a Retry-After header of RetryAfter seconds when
// it is set, the rate-limit headers of RateLimits, and an OpenAI-shaped
// body {"error": {"message": Message, "type": Type, "code": Code}}.
type LimitError struct {
	// Limit names what was hit: requests_per_minute, tokens_per_minute,
	// requests_per_day, tokens_per_day, budget_per_day, budget_per_month,
	// key_budget (the key's own monthly budget), model (not in the plan's
	// allowlist) or plan (the caller's plan is not configured).
	Limit string
	// Code is rate_limit_exceeded for the per-minute limits,
	// insufficient_quota for the daily, monthly and budget limits,
	// model_not_allowed or invalid_plan for the 403s.
	Code string
	// Type is the OpenAI error type: "requests", "tokens",
	// "insufficient_quota" or "invalid_request_error".
	Type string
	// Message is a human-readable explanation for the client.
	Message string
	// StatusCode is 429 for limits and 403 for model and plan refusals.
	StatusCode int
	// RetryAfter is the number of seconds until the window frees enough
	// for this request, at least 1; 0 for 403s.
	RetryAfter int
	// Max, Used and Requested are the limit, what its window holds
	// (including requests in flight) and what this request needed, in
	// requests, tokens or USD.
	Max, Used, Requested float64
	// RateLimits are the caller's current rate-limit header values.
	RateLimits RateLimits
}

func (e *LimitError) Error() string { return e.Message }

// RateLimits are the values of OpenAI's x-ratelimit-* response headers for
// a caller: its per-minute limits, or its per-day limits when the plan has
// none per minute. A zero limit means the plan has no such limit.
type RateLimits struct {
	LimitRequests     int64
	RemainingRequests int64
	ResetRequests     time.Duration
	LimitTokens       int64
	RemainingTokens   int64
	ResetTokens       time.Duration
}

// SetHeaders sets x-ratelimit-limit-requests, x-ratelimit-remaining-requests,
// x-ratelimit-reset-requests and their -tokens counterparts for the limits
// that exist. Resets are formatted like OpenAI's ("1s", "6m0s", "250ms").
func (l *RateLimits) SetHeaders(h http.Header) {
	if l.LimitRequests <= 0 && l.LimitTokens <= 0 {
		return
	}
	// One backing array for all values: the only allocations are it and
	// the formatted numbers.
	vals := make([]string, 6)
	set := func(i int, key, v string) {
		vals[i] = v
		h[key] = vals[i : i+1 : i+1]
	}
	if l.LimitRequests > 0 {
		set(0, "X-Ratelimit-Limit-Requests", limitTexts.get(l.LimitRequests, formatInt))
		set(1, "X-Ratelimit-Remaining-Requests", strconv.FormatInt(l.RemainingRequests, 10))
		set(2, "X-Ratelimit-Reset-Requests", formatReset(l.ResetRequests))
	}
	if l.LimitTokens > 0 {
		set(3, "X-Ratelimit-Limit-Tokens", limitTexts.get(l.LimitTokens, formatInt))
		set(4, "X-Ratelimit-Remaining-Tokens", strconv.FormatInt(l.RemainingTokens, 10))
		set(5, "X-Ratelimit-Reset-Tokens", formatReset(l.ResetTokens))
	}
}

func formatInt(n int64) string { return strconv.FormatInt(n, 10) }

func formatReset(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	if d >= time.Second {
		d = d.Round(time.Second)
	} else {
		d = d.Round(time.Millisecond)
	}
	return resetTexts.get(int64(d), func(n int64) string { return time.Duration(n).String() })
}

// Header values repeat: a plan's limits are the same on every response,
// and a reset, rounded to the second, changes once a second. These keep
// the recently formatted ones, so a response formats only its remaining
// counts.
var limitTexts, resetTexts textCache

// textCache remembers the texts of up to 128 numbers, direct-mapped: a
// number replaces the one in its slot.
type textCache [128]atomic.Pointer[numberText]

type numberText struct {
	n    int64
	text string
}

func (c *textCache) get(n int64, format func(int64) string) string {
	h := uint64(n) // splitmix64's finalizer: every bit of n moves the slot
	h = (h ^ h>>30) * 0xBF58476D1CE4E5B9
	h = (h ^ h>>27) * 0x94D049BB133111EB
	slot := &c[(h^h>>31)%uint64(len(c))]
	if e := slot.Load(); e != nil && e.n == n {
		return e.text
	}
	e := &numberText{n, format(n)}
	slot.Store(e)
	return e.text
}

// Estimate is what a request may consume, known before it is sent, and
// the prices its usage is charged at.
type Estimate struct {
	// InputTokens is the prompt size (see the tokens subpackage).
	InputTokens int64
	// MaxOutputTokens is the request's max_tokens (or
	// max_completion_tokens). Default: the plan's default_max_tokens.
	MaxOutputTokens int64
	// InputPricePerM and OutputPricePerM are the model's prices in USD
	// per million tokens.
	InputPricePerM  float64
	OutputPricePerM float64
	// CachedInputPricePerM prices input tokens read from the provider's
	// prompt cache. Default (0): the input price.
	CachedInputPricePerM float64
	// CacheWritePricePerM prices input tokens written to the provider's
	// prompt cache with the default (five-minute) lifetime. Default (0):
	// the input price.
	CacheWritePricePerM float64
	// CacheWrite1hPricePerM prices input tokens written with a one-hour
	// lifetime. Default (0): the cache write price.
	CacheWrite1hPricePerM float64
}

// Cost is the price in USD of input tokens and output tokens, each kind
// of input at its own rate. input counts every prompt token: cached of
// them were read from the provider's prompt cache and cacheWrite written
// to it, cacheWrite1h of those with a one-hour lifetime (as in Record's
// InputTokens, CachedTokens, CacheWriteTokens and CacheWrite1hTokens).
// It computes what providers.Price.Cost does.
func (e Estimate) Cost(input, cached, cacheWrite, cacheWrite1h, output int64) float64 {
	cachedPrice := cmp.Or(e.CachedInputPricePerM, e.InputPricePerM)
	writePrice := cmp.Or(e.CacheWritePricePerM, e.InputPricePerM)
	write1hPrice := cmp.Or(e.CacheWrite1hPricePerM, writePrice)
	cached = max(cached, 0)
	w1h := min(max(cacheWrite1h, 0), max(cacheWrite, 0))
	w5m := max(cacheWrite, 0) - w1h
	plain := max(input-cached-w5m-w1h, 0)
	return (float64(plain)*e.InputPricePerM + float64(cached)*cachedPrice +
		float64(w5m)*writePrice + float64(w1h)*write1hPrice + float64(output)*e.OutputPricePerM) / 1e6
}

// counts are what a window holds.
type counts struct {
	requests int64
	tokens   int64
	cost     float64
}

func (c counts) plus(o counts) counts {
	return counts{c.requests + o.requests, c.tokens + o.tokens, c.cost + o.cost}
}

func (c counts) minus(o counts) counts {
	return counts{c.requests - o.requests, c.tokens - o.tokens, c.cost - o.cost}
}

// metric selects one of counts' fields.
type metric uint8

const (
	mRequests metric = iota
	mTokens
	mCost
)

func (c counts) get(m metric) float64 {
	switch m {
	case mRequests:
		return float64(c.requests)
	case mTokens:
		return float64(c.tokens)
	default:
		return c.cost
	}
}

// bucket is one subject's counters for one window. This instance's own
// usage is exact; other instances' comes from the last pull.
type bucket struct {
	kind kind
	win  int64

	othersSettled  counts
	othersReserved counts
	pulled         uint64 // generation of the pull that set others*

	settled  counts // this instance's finished requests
	reserved counts // this instance's requests in flight

	pushedSettled  counts // settled and reserved as last written
	pushedReserved counts
}

func (b *bucket) used() counts {
	if b == nil {
		return counts{}
	}
	return b.othersSettled.plus(b.othersReserved).plus(b.settled).plus(b.reserved)
}

func (b *bucket) settledOnly() counts {
	if b == nil {
		return counts{}
	}
	return b.othersSettled.plus(b.settled)
}

func (b *bucket) dirty() bool {
	return b.settled != b.pushedSettled || b.reserved != b.pushedReserved
}

// subject is everything counted for one caller.
type subject struct {
	id string

	mu       sync.Mutex
	buckets  []*bucket
	inflight int
	queued   bool // in limiter.dirty
	gone     bool // removed from limiter.subjects
}

func (s *subject) bucket(k kind, win int64, create bool) *bucket {
	for _, b := range s.buckets {
		if b.kind == k && b.win == win {
			return b
		}
	}
	if !create {
		return nil
	}
	b := &bucket{kind: k, win: win}
	s.buckets = append(s.buckets, b)
	return b
}

// limiter holds the subjects.
type limiter struct {
	subjects sync.Map // id -> *subject
	size     atomic.Int64

	dmu   sync.Mutex
	dirty []*subject
}

// get returns the live subject id, creating it. The caller locks it and
// must retry if it turns out gone.
func (l *limiter) get(id string) *subject {
	if v, ok := l.subjects.Load(id); ok {
		return v.(*subject)
	}
	v, loaded := l.subjects.LoadOrStore(id, &subject{id: id})
	if !loaded {
		l.size.Add(1)
	}
	return v.(*subject)
}

// lock returns subject id locked.
func (l *limiter) lock(id string) *subject {
	for {
		s := l.get(id)
		s.mu.Lock()
		if !s.gone {
			return s
		}
		s.mu.Unlock()
	}
}

// markDirty queues s for the next push; s.mu must be held.
func (l *limiter) markDirty(s *subject) {
	if s.queued {
		return
	}
	s.queued = true
	l.dmu.Lock()
	l.dirty = append(l.dirty, s)
	l.dmu.Unlock()
}

// Reservation holds a request's estimated usage against its caller's
// limits until [Reservation.Settle] replaces it with the real usage or
// [Reservation.Cancel] drops it. Exactly one of them should be called;
// later calls do nothing. A reservation that is garbage-collected without
// either is cancelled, and a warning logged.
type Reservation struct {
	st     *resState
	svc    *Service
	caller Caller
	model  string
	est    Estimate
	start  time.Time
	limits RateLimits
}

// resState is the part of a Reservation its cleanup needs.
type resState struct {
	e    *engine
	sub  *subject
	amt  counts
	wins [numKinds]int64
	done atomic.Bool
}

func (st *resState) release(actual counts, settle bool) {
	sub := st.sub
	sub.mu.Lock()
	for k := range numKinds {
		b := sub.bucket(k, st.wins[k], true)
		b.reserved = b.reserved.minus(st.amt)
		if settle {
			b.settled = b.settled.plus(actual)
		}
	}
	sub.inflight--
	st.e.lim.markDirty(sub)
	sub.mu.Unlock()
}

// RateLimits returns the caller's rate-limit header values right after
// this reservation was made.
func (r *Reservation) RateLimits() RateLimits { return r.limits }

// Caller returns the caller the reservation was made for.
func (r *Reservation) Caller() Caller { return r.caller }

// Settle replaces the reservation by rec's actual usage in the caller's
// counters and queues rec for writing. Empty fields of rec are filled in:
// RequestID (random), Time (the reservation's), CallerID, KeyID, Plan,
// Model, LatencyMS (since the reservation), and CostUSD from the
// estimate's prices when rec has tokens but no cost. Settling with zero
// tokens counts the request (for requests per minute and day) but no
// tokens or spend. A cache hit (rec.CacheHit) keeps its tokens in the
// record but costs nothing and counts no tokens: no provider was paid.
func (r *Reservation) Settle(rec Record) {
	if !r.st.done.CompareAndSwap(false, true) {
		return
	}
	if rec.Model == "" {
		rec.Model = r.model
	}
	if rec.Time.IsZero() {
		rec.Time = r.start
	}
	if rec.LatencyMS == 0 {
		rec.LatencyMS = r.st.e.now().Sub(r.start).Milliseconds()
	}
	spent := counts{1, rec.InputTokens + rec.OutputTokens, 0}
	if rec.CacheHit {
		rec.CostUSD, spent.tokens = 0, 0
	} else if rec.CostUSD == 0 && (rec.InputTokens > 0 || rec.OutputTokens > 0) {
		rec.CostUSD = r.est.Cost(rec.InputTokens, rec.CachedTokens, rec.CacheWriteTokens, rec.CacheWrite1hTokens, rec.OutputTokens)
	}
	spent.cost = rec.CostUSD
	r.svc.fillCaller(&rec, r.caller)
	r.st.release(spent, true)
	r.st.e.w.add(rec)
}

// Cancel drops the reservation without counting anything; use it when the
// request failed before any provider charged for it. No record is written
// (the host may still call [Service.Record]).
func (r *Reservation) Cancel() {
	if r.st.done.CompareAndSwap(false, true) {
		r.st.release(counts{}, false)
	}
}

// Reserve checks that caller may send a request for model with the given
// estimate and, if so, reserves the estimate (one request, input plus max
// output tokens, and their price) against every limit of the caller's plan
// and the caller's key budget. The check and the reservation are one step
// under the caller's lock, so concurrent requests cannot together pass a
// limit on one instance: what is admitted never exceeds a limit, and what
// is spent exceeds it only by what requests consume beyond their estimate.
// Across instances see [Service] for the bound.
//
// It never touches the database. It returns a *LimitError (and no
// reservation) when a limit would be passed or the model is not allowed.
func (s *Service) Reserve(c Caller, model string, est Estimate) (*Reservation, *LimitError) {
	plan, lerr := s.allowed(c, model)
	if lerr != nil {
		return nil, lerr
	}
	maxOut := est.MaxOutputTokens
	if maxOut <= 0 {
		maxOut = plan.maxTokens()
	}
	amt := counts{
		requests: 1,
		tokens:   est.InputTokens + maxOut,
		cost:     est.Cost(est.InputTokens, 0, 0, 0, maxOut),
	}
	e := s.e
	w := windowsAt(e.now())
	sub := e.lim.lock(c.ID)
	if lerr := admit(sub, plan, c, amt, w); lerr != nil {
		lerr.RateLimits = rateLimits(sub, plan, w)
		sub.mu.Unlock()
		return nil, lerr
	}
	st := &resState{e: e, sub: sub, amt: amt, wins: [numKinds]int64{w.minute, w.day, w.month}}
	for k := range numKinds {
		b := sub.bucket(k, w.of(k), true)
		b.reserved = b.reserved.plus(amt)
	}
	sub.inflight++
	e.lim.markDirty(sub)
	limits := rateLimits(sub, plan, w)
	sub.mu.Unlock()

	r := &Reservation{st: st, svc: s, caller: c, model: model, est: est, start: w.now, limits: limits}
	runtime.AddCleanup(r, func(st *resState) {
		if st.done.CompareAndSwap(false, true) {
			st.release(counts{}, false)
			st.e.log().Warn("usage reservation dropped without Settle or Cancel; released it",
				zap.String("caller", st.sub.id))
		}
	}, st)
	return r, nil
}

// Allowed reports, without counting anything, the 403s Reserve would
// give: the caller's plan is not configured, or model is not in its
// allowlist. The host may call it before counting prompt tokens.
func (s *Service) Allowed(c Caller, model string) *LimitError {
	_, lerr := s.allowed(c, model)
	return lerr
}

func (s *Service) allowed(c Caller, model string) (*Plan, *LimitError) {
	plan, lerr := s.planOf(c)
	if lerr != nil {
		return nil, lerr
	}
	if !plan.AllowsModel(model) {
		return nil, &LimitError{
			Limit:      "model",
			Code:       CodeModelNotAllowed,
			Type:       "invalid_request_error",
			StatusCode: http.StatusForbidden,
			Message:    fmt.Sprintf("The model `%s` is not available on your plan.", model),
		}
	}
	return plan, nil
}

// RateLimits returns the caller's rate-limit header values without
// reserving anything, for responses that did not go through Reserve.
func (s *Service) RateLimits(c Caller) RateLimits {
	plan, lerr := s.planOf(c)
	if lerr != nil || plan == nil {
		return RateLimits{}
	}
	w := windowsAt(s.e.now())
	sub := s.e.lim.lock(c.ID)
	defer sub.mu.Unlock()
	return rateLimits(sub, plan, w)
}

// admit checks amt against the limits; sub.mu is held.
func admit(sub *subject, p *Plan, c Caller, amt counts, w windows) *LimitError {
	cur := sub.bucket(minuteKind, w.minute, false)
	prev := sub.bucket(minuteKind, w.minute-1, false)
	day := sub.bucket(dayKind, w.day, false)
	mon := sub.bucket(monthKind, w.month, false)
	if p != nil {
		if p.RequestsPerMinute > 0 {
			if e := checkSliding(cur, prev, w, mRequests, float64(p.RequestsPerMinute), amt, "requests_per_minute"); e != nil {
				return e
			}
		}
		if p.TokensPerMinute > 0 {
			if e := checkSliding(cur, prev, w, mTokens, float64(p.TokensPerMinute), amt, "tokens_per_minute"); e != nil {
				return e
			}
		}
		if p.RequestsPerDay > 0 {
			if e := checkFixed(day, w.untilDayEnd(), mRequests, float64(p.RequestsPerDay), amt, "requests_per_day"); e != nil {
				return e
			}
		}
		if p.TokensPerDay > 0 {
			if e := checkFixed(day, w.untilDayEnd(), mTokens, float64(p.TokensPerDay), amt, "tokens_per_day"); e != nil {
				return e
			}
		}
		if p.BudgetPerDay > 0 {
			if e := checkFixed(day, w.untilDayEnd(), mCost, p.BudgetPerDay, amt, "budget_per_day"); e != nil {
				return e
			}
		}
		if p.BudgetPerMonth > 0 {
			if e := checkFixed(mon, w.untilMonthEnd(), mCost, p.BudgetPerMonth, amt, "budget_per_month"); e != nil {
				return e
			}
		}
	}
	if c.BudgetUSD > 0 {
		if e := checkFixed(mon, w.untilMonthEnd(), mCost, c.BudgetUSD, amt, "key_budget"); e != nil {
			return e
		}
	}
	return nil
}

var limitLabels = map[string]string{
	"requests_per_minute": "requests per minute",
	"tokens_per_minute":   "tokens per minute",
	"requests_per_day":    "requests per day",
	"tokens_per_day":      "tokens per day",
	"budget_per_day":      "daily budget",
	"budget_per_month":    "monthly budget",
	"key_budget":          "monthly budget of this API key",
}

// epsilon absorbs floating-point error at the exact limit (a request that
// fits exactly is admitted; the slack is a billionth of a request, token
// or dollar).
const epsilon = 1e-9

func checkSliding(cur, prev *bucket, w windows, m metric, limit float64, amt counts, name string) *LimitError {
	c, p := cur.used().get(m), prev.used().get(m)
	used := p*(1-w.frac) + c
	need := amt.get(m)
	if used+need <= limit+epsilon {
		return nil
	}
	wait, ok := slidingWait(c, p, need, limit, w.frac)
	if !ok {
		wait = w.untilMinuteEnd()
	}
	typ := "requests"
	if m == mTokens {
		typ = "tokens"
	}
	return limitError(name, CodeRateLimit, typ, limit, used, need, m, wait, !ok)
}

func checkFixed(b *bucket, untilEnd time.Duration, m metric, limit float64, amt counts, name string) *LimitError {
	used := b.used().get(m)
	need := amt.get(m)
	if used+need <= limit+epsilon {
		return nil
	}
	wait := untilEnd
	if need <= limit && b.settledOnly().get(m)+need <= limit+epsilon {
		// Only requests in flight hold the room; they settle soon.
		wait = time.Second
	}
	return limitError(name, CodeInsufficientQuota, "insufficient_quota", limit, used, need, m, wait, need > limit)
}

func limitError(name, code, typ string, limit, used, need float64, m metric, wait time.Duration, tooLarge bool) *LimitError {
	retry := seconds(wait)
	label := limitLabels[name]
	var msg string
	switch {
	case m == mCost && tooLarge:
		msg = fmt.Sprintf("This request may cost up to $%.4f, more than the %s of $%.2f. Lower max_tokens.", need, label, limit)
	case m == mCost:
		msg = fmt.Sprintf("You exceeded your %s: limit $%.2f, used $%.4f, this request may cost up to $%.4f. Please try again in %s.",
			label, limit, used, need, time.Duration(retry)*time.Second)
	case tooLarge:
		msg = fmt.Sprintf("Request too large for %s: limit %.0f, requested %.0f. Lower max_tokens or the prompt.", label, limit, need)
	default:
		msg = fmt.Sprintf("Rate limit reached for %s: limit %.0f, used %.0f, requested %.0f. Please try again in %s.",
			label, limit, math.Ceil(used), need, time.Duration(retry)*time.Second)
	}
	return &LimitError{
		Limit:      name,
		Code:       code,
		Type:       typ,
		Message:    msg,
		StatusCode: http.StatusTooManyRequests,
		RetryAfter: retry,
		Max:        limit,
		Used:       used,
		Requested:  need,
	}
}

// rateLimits computes the header values; sub.mu is held.
func rateLimits(sub *subject, p *Plan, w windows) RateLimits {
	var rl RateLimits
	if p == nil {
		return rl
	}
	cur := sub.bucket(minuteKind, w.minute, false)
	prev := sub.bucket(minuteKind, w.minute-1, false)
	day := sub.bucket(dayKind, w.day, false)
	rl.LimitRequests, rl.RemainingRequests, rl.ResetRequests = headerValues(p.RequestsPerMinute, p.RequestsPerDay, cur, prev, day, w, mRequests)
	rl.LimitTokens, rl.RemainingTokens, rl.ResetTokens = headerValues(p.TokensPerMinute, p.TokensPerDay, cur, prev, day, w, mTokens)
	return rl
}

func headerValues(perMinute, perDay int64, cur, prev, day *bucket, w windows, m metric) (limit, remaining int64, reset time.Duration) {
	var used float64
	switch {
	case perMinute > 0:
		limit = perMinute
		c, p := cur.used().get(m), prev.used().get(m)
		used = p*(1-w.frac) + c
		switch {
		case c > 0:
			reset = w.untilMinuteEnd() + time.Minute
		case p > 0:
			reset = w.untilMinuteEnd()
		}
	case perDay > 0:
		limit = perDay
		used = day.used().get(m)
		if used > 0 {
			reset = w.untilDayEnd()
		}
	default:
		return 0, 0, 0
	}
	remaining = limit - int64(math.Ceil(used))
	if remaining < 0 {
		remaining = 0
	}
	return limit, remaining, reset
}

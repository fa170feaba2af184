package guardrails

import (
	"unicode/utf8"
	"unsafe"
)

// detector finds one kind of match in text.
//
// next returns the leftmost match in s that starts at or after pos; s[:pos] is context only.
// start is -1 when no match is reported. When final is false, s may later be continued: next then
// reports a match only if every continuation of s gives the same match, and hold is the smallest
// position at or after pos at which a match could still start in some continuation (len(s) when
// none can). A reported match starts before hold. When final is true, hold is len(s).
//
// Matches are never empty. The result for pos must equal the result for any earlier position p
// whenever no match starts in [p, pos): that is what lets a stream release text and resume.
type detector interface {
	next(s string, pos int, final bool) (start, end, hold int)
}

// scanner runs a set of detectors as one: matches are taken leftmost first, ties going to the
// earlier detector, and the search resumes at the end of each match.
type scanner struct {
	dets []detector
}

type hit struct{ start, end, det int }

type detResult struct {
	start, end, hold int
	valid            bool
}

// run reports the matches in s from pos on to fn until fn returns false. It returns the position
// up to which s is decided: all matches starting before it have been reported, and none of them
// ends after it. With final set that is len(s) unless fn stopped the scan.
func (sc *scanner) run(s string, pos int, final bool, fn func(hit) bool) (decided int, stopped bool) {
	var arr [16]detResult
	var res []detResult
	if len(sc.dets) <= len(arr) {
		res = arr[:len(sc.dets)]
	} else {
		res = make([]detResult, len(sc.dets))
	}
	for {
		limit := len(s)
		for i := range res {
			r := &res[i]
			if !r.valid || (r.start >= 0 && r.start < pos) || r.hold < pos {
				r.start, r.end, r.hold = sc.dets[i].next(s, pos, final)
				r.valid = true
			}
			if r.hold < limit {
				limit = r.hold
			}
		}
		best := -1
		for i := range res {
			if st := res[i].start; st >= 0 && st < limit && (best < 0 || st < res[best].start) {
				best = i
			}
		}
		if best < 0 {
			return max(limit, pos), false
		}
		h := hit{start: res[best].start, end: res[best].end, det: best}
		if h.end <= h.start { // never produced by the detectors; guards against a loop
			h.end = h.start + 1
		}
		if !fn(h) {
			return h.start, true
		}
		pos = h.end
	}
}

// textGuard is the part of the pii and regex guardrails that the chain runs.
type textGuard struct {
	base  *Base
	sc    scanner
	cat   []string // category of each detector
	what  []string // description of each detector for block messages
	place []string // redaction placeholder of each detector
	// exempt, if set, tells whether a match is exempt from any action.
	exempt func(match string) bool
}

// checkText runs the guardrail over one complete text. It returns the text to keep (s itself when
// nothing was redacted), calls found once per detector that matched, and reports whether the
// guardrail blocks. After a block, out is meaningless.
func (g *textGuard) checkText(s string, found func(det int)) (out string, blocked bool) {
	var b []byte
	last := 0
	var seen uint64
	g.sc.run(s, 0, true, func(h hit) bool {
		if g.exempt != nil && g.exempt(s[h.start:h.end]) {
			return true
		}
		if h.det >= 64 || seen&(1<<h.det) == 0 {
			if h.det < 64 {
				seen |= 1 << h.det
			}
			found(h.det)
		}
		switch g.base.act {
		case actBlock:
			blocked = true
			return false
		case actRedact:
			if b == nil {
				b = make([]byte, 0, len(s)+16)
			}
			b = append(b, s[last:h.start]...)
			b = append(b, g.place[h.det]...)
			last = h.end
		}
		return true
	})
	if blocked {
		return s, true
	}
	if b == nil {
		return s, false
	}
	b = append(b, s[last:]...)
	return string(b), false
}

// ctxKeep is how many bytes of already released text a stream keeps before its scan position,
// so detectors can look at what comes before a match: the character before it, the run of
// digits a card number continues, the local part of an address (emailLocalMax).
const ctxKeep = emailLocalMax + 8

// scanStream runs a textGuard over one streamed text.
type scanStream struct {
	g    *textGuard
	rec  *Recorder
	loc  string
	buf  []byte
	pos  int // scan position in buf; with block or redact, everything before it is released
	done bool
}

func (st *scanStream) Feed(in string, final bool, out []byte) ([]byte, bool) {
	if st.done {
		return out, false
	}
	act := st.g.base.act
	if act == actLog {
		out = append(out, in...)
	}
	st.buf = append(st.buf, in...)
	s := bytesString(st.buf)
	last := st.pos
	blocked := false
	rel, _ := st.g.sc.run(s, st.pos, final, func(h hit) bool {
		if st.g.exempt != nil && st.g.exempt(s[h.start:h.end]) {
			return true
		}
		st.rec.Add(Verdict{Guardrail: st.g.base.Name, Action: act.String(), Category: st.g.cat[h.det], Stage: Output, Location: st.loc})
		switch act {
		case actBlock:
			blocked = true
			return false
		case actRedact:
			out = append(out, s[last:h.start]...)
			out = append(out, st.g.place[h.det]...)
			last = h.end
		}
		return true
	})
	if blocked {
		st.done = true
		return out, true
	}
	if act != actLog {
		out = append(out, s[last:rel]...)
	}
	st.pos = rel
	if final {
		st.done = true
		st.buf = st.buf[:0]
		st.pos = 0
		return out, false
	}
	if cut := st.pos - ctxKeep; cut > 0 {
		for cut > 0 && !utf8.RuneStart(st.buf[cut]) {
			cut--
		}
		n := copy(st.buf, st.buf[cut:])
		st.buf = st.buf[:n]
		st.pos -= cut
	}
	return out, false
}

func (st *scanStream) Held() bool {
	return st.g.base.act != actLog && st.pos < len(st.buf)
}

// bytesString returns a string sharing b's memory. The string must not be used after b changes.
func bytesString(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(unsafe.SliceData(b), len(b))
}

// Recorder collects verdicts, one per distinct verdict.
type Recorder struct {
	verdicts []Verdict
}

func (r *Recorder) Add(v Verdict) {
	for _, x := range r.verdicts {
		if x == v {
			return
		}
	}
	r.verdicts = append(r.verdicts, v)
}

package usage

import (
	"math"
	"time"
)

// kind is a counter window: the current and previous UTC minute (for the
// sliding per-minute limits), the UTC day, the UTC calendar month.
type kind uint8

const (
	minuteKind kind = iota
	dayKind
	monthKind
	numKinds
)

// kindNames are the values of polygate_counters.kind.
var kindNames = [numKinds]string{"min", "day", "mon"}

func kindByName(s string) (kind, bool) {
	for k, n := range kindNames {
		if n == s {
			return kind(k), true
		}
	}
	return 0, false
}

// windows are the window numbers of one instant: Unix minutes, Unix days,
// and months since year 0.
type windows struct {
	now    time.Time
	minute int64
	day    int64
	month  int64
	// frac is the elapsed fraction of the current minute, in [0, 1).
	frac float64
}

func windowsAt(t time.Time) windows {
	t = t.UTC()
	ns := t.UnixNano()
	minute := floorDiv(ns, int64(time.Minute))
	y, m, _ := t.Date()
	return windows{
		now:    t,
		minute: minute,
		day:    floorDiv(ns, int64(24*time.Hour)),
		month:  int64(y)*12 + int64(m) - 1,
		frac:   float64(ns-minute*int64(time.Minute)) / float64(time.Minute),
	}
}

func (w windows) of(k kind) int64 {
	switch k {
	case minuteKind:
		return w.minute
	case dayKind:
		return w.day
	default:
		return w.month
	}
}

func (w windows) untilMinuteEnd() time.Duration {
	return time.Duration((1 - w.frac) * float64(time.Minute))
}

func (w windows) untilDayEnd() time.Duration {
	return time.Unix(0, (w.day+1)*int64(24*time.Hour)).Sub(w.now)
}

func (w windows) untilMonthEnd() time.Duration {
	y, m := w.month/12, time.Month(w.month%12+1)
	return time.Date(int(y), m+1, 1, 0, 0, 0, 0, time.UTC).Sub(w.now)
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if a%b != 0 && (a < 0) != (b < 0) {
		q--
	}
	return q
}

// seconds rounds d up to whole seconds, at least 1: the value of a
// Retry-After header.
func seconds(d time.Duration) int {
	s := int(math.Ceil(d.Seconds()))
	if s < 1 {
		s = 1
	}
	return s
}

// slidingWait is how long until a sliding per-minute window with usage
// cur (this minute) and prev (last minute), at elapsed fraction frac of
// this minute, has room for need more under limit. ok is false when need
// alone exceeds the limit.
func slidingWait(cur, prev, need, limit, frac float64) (wait time.Duration, ok bool) {
	if need > limit {
		return 0, false
	}
	if cur+need <= limit {
		// Wait within this minute for the previous minute's weight to
		// shrink: prev*(1-f) + cur + need <= limit.
		if prev <= 0 {
			return 0, true
		}
		f := 1 - (limit-cur-need)/prev
		if f <= frac {
			return 0, true
		}
		return time.Duration((f - frac) * float64(time.Minute)), true
	}
	// Wait into the next minute, where this minute becomes the previous
	// one: cur*(1-g) + need <= limit.
	g := 1 - (limit-need)/cur
	if g < 0 {
		g = 0
	}
	return time.Duration((1 - frac + g) * float64(time.Minute)), true
}

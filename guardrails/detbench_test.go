package guardrails

import (
	"strings"
	"testing"
)

func BenchmarkDetectors(b *testing.B) {
	s := strings.Repeat(benchProse, 3)
	for _, name := range piiCategories {
		d := piiDetectors[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(s)))
			for b.Loop() {
				d.next(s, 0, true)
			}
		})
	}
}

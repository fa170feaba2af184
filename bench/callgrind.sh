#!/usr/bin/env bash
# Instructions per iteration of a Go benchmark, counted by callgrind: a
# figure that does not depend on what else the machine runs, unlike wall or
# CPU time. The benchmark runs twice, with LO and HI iterations, and the
# difference of the two totals is divided by HI - LO, so setup costs cancel.
#
#	go test -c -o /tmp/usage.test ./usage
#	bash bench/callgrind.sh /tmp/usage.test 'SQLiteInsertAlternatives/^writer$' [LO [HI]]
#
# Needs valgrind. The binary runs in DIR (default: the current directory).
set -euo pipefail
bin=$1 pat=$2 lo=${3:-4000} hi=${4:-12000}
cd "${DIR:-.}"
count() {
	# Go's asynchronous preemption signals trip callgrind; one P keeps the
	# count repeatable.
	GODEBUG=asyncpreemptoff=1 GOMAXPROCS=1 valgrind --tool=callgrind --callgrind-out-file=/dev/null \
		"$bin" -test.run '^$' -test.bench "$pat" -test.benchtime "${1}x" 2>&1 |
		sed -n 's/.*Collected : //p'
}
a=$(count "$lo")
b=$(count "$hi")
if [ -z "$a" ] || [ -z "$b" ]; then
	echo "callgrind.sh: no count (does $pat match one benchmark?)" >&2
	exit 1
fi
echo "$pat: $(((b - a) / (hi - lo))) instructions per iteration"

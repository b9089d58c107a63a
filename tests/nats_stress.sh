#!/usr/bin/env bash
# Run the NATS stream suites again and again with the CPU loaded, to catch
# what only goes wrong when every process is slow: two `stress-ng --cpu 2`
# beside the suites, and the suites pinned to one core with taskset. Run by
# hand (it takes long), after scripts/test has built build/test:
#
#   tests/nats_stress.sh            # 20 runs of test_nats_streams and test_source_kills
#   DBS_STRESS_RUNS=5 tests/nats_stress.sh test_nats_streams
#
# Stops at the first failing run and keeps its log (and the parts' debug
# logs it printed) under build/nats-stress/. Exits non-zero on a failure.
set -euo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
runs=${DBS_STRESS_RUNS:-20}
suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(test_nats_streams test_source_kills)
out="$root/build/nats-stress"
servers="$root/build/stress-servers"
mkdir -p "$out"

for s in "${suites[@]}"; do
	[ -x "$root/build/test/tests/integration/$s" ] || {
		echo "nats_stress: build/test/tests/integration/$s is missing: run scripts/test first" >&2
		exit 2
	}
done
command -v stress-ng >/dev/null || {
	echo "nats_stress: stress-ng is missing: apt-get install -y stress-ng" >&2
	exit 2
}

stress_pids=()
cleanup() {
	for p in "${stress_pids[@]}"; do kill "$p" 2>/dev/null || true; done
	"$root/tests/harness/servers" stop "$servers" || true
}
trap cleanup EXIT
trap 'exit 130' INT TERM

"$root/tests/harness/servers" stop "$servers" >/dev/null 2>&1 || true
"$root/tests/harness/servers" start "$servers"
# shellcheck disable=SC1091
. "$servers/env"
export ASAN_OPTIONS=halt_on_error=1:abort_on_error=1:detect_leaks=1:print_stacktrace=1
export UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1

for _ in 1 2; do
	stress-ng --cpu 2 --timeout 0 >/dev/null 2>&1 &
	stress_pids+=($!)
done

for i in $(seq 1 "$runs"); do
	for s in "${suites[@]}"; do
		log="$out/$s-$i.log"
		start=$(date +%s)
		rc=0
		taskset -c 0 "$root/build/test/tests/integration/$s" >"$log" 2>&1 || rc=$?
		load=$(cut -d' ' -f1 /proc/loadavg)
		echo "run $i/$runs $s: exit $rc, $(($(date +%s) - start)) s, load $load"
		if [ $rc -ne 0 ]; then
			grep -E ':[FE]:' "$log" >&2 || true
			echo "nats_stress: $s failed in run $i; log: $log" >&2
			exit 1
		fi
		rm -f "$log"
	done
done
echo "nats_stress: ${#suites[@]} suite(s) passed $runs runs in a row under load"

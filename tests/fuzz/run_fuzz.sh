#!/usr/bin/env bash
# run_fuzz.sh FUZZER SEED_CORPUS SECONDS [libFuzzer options...]
# Fuzz for a bounded time, from a copy of the saved corpus (the repository
# is not written to), and print the coverage reached. Any crash, leak,
# sanitizer report or hang fails, with the input printed to reproduce it.
set -euo pipefail

fuzzer=$1 seeds=$2 seconds=$3
shift 3
name=$(basename "$fuzzer")
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
mkdir "$work/corpus" "$work/artifacts"
cp -r "$seeds"/. "$work/corpus/"

rc=0
"$fuzzer" -max_total_time="$seconds" -timeout=15 -rss_limit_mb=4096 -print_final_stats=1 \
	-artifact_prefix="$work/artifacts/" "$@" "$work/corpus" >"$work/log" 2>&1 || rc=$?

# What was reached: libFuzzer's first and last status lines.
grep -E '^#[0-9]+[[:space:]]+INITED' "$work/log" | head -n 1 | sed "s/^/$name: /"
grep -E '^#[0-9]+[[:space:]]+(DONE|pulse|NEW|REDUCE)' "$work/log" | tail -n 1 | sed "s/^/$name: /"
grep -E '^stat::' "$work/log" | sed "s/^/$name: /"
if [ "$rc" -ne 0 ]; then
	echo "$name: libFuzzer exit $rc" >&2
	tail -n 60 "$work/log" >&2
	for f in "$work"/artifacts/*; do
		[ -e "$f" ] || continue
		echo "$name: input $(basename "$f") (base64):" >&2
		base64 -w0 "$f" >&2
		echo >&2
	done
	exit "$rc"
fi
echo "$name: $(ls "$work/corpus" | wc -l) inputs in the corpus after ${seconds} s"

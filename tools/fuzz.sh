#!/usr/bin/env bash
# fuzz.sh -- run the libFuzzer harnesses built by `make fuzz-build`.
#
#   tools/fuzz.sh [name...]     (FUZZ_SECONDS each, default 60)
#
# Each harness build/fuzz/bin/fuzz_<name> runs for FUZZ_SECONDS on its
# working corpus build/fuzz/corpus/<name> (kept between runs, so fuzzing
# time adds up) plus the committed seeds tests/fuzz/corpus/<name>, with the
# dictionary tests/fuzz/<name>.dict when there is one. A crash, leak,
# UB report, timeout or out-of-memory fails the run: the input is saved as
# build/fuzz/crashes/<name>-<kind>-<sha1>, the log in build/fuzz/logs/.
# One summary line per harness: runs, exec/s, coverage (cov = edges hit).
set -u
cd "$(dirname "$0")/.."
secs=${FUZZ_SECONDS:-60}
out=build/fuzz
mkdir -p "$out/crashes" "$out/logs"
# The harnesses that read files write one per run: on tmpfs when there is
# one (seven times the runs a second of a disk here), removed at the end.
if [ -d /dev/shm ] && [ -w /dev/shm ]; then
    tmp=$(mktemp -d /dev/shm/cityd-fuzz.XXXXXX)
else
    tmp=$(mktemp -d "$PWD/$out/tmp.XXXXXX")
fi
trap 'rm -rf "$tmp"' EXIT
export TMPDIR=$tmp
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

# Longest input and per-input time limit (s) of each harness. Multi-file
# inputs (a GTFS feed, a map) need room; one request or message does not.
limits() {
    case $1 in
    gtfs | map) echo "65536 10" ;;
    http) echo "16384 30" ;;
    *) echo "16384 10" ;;
    esac
}

targets=("$@")
[ ${#targets[@]} -eq 0 ] && for f in tests/fuzz/fuzz_*.c; do b=${f##*/fuzz_}; targets+=("${b%.c}"); done
failed=0
for t in "${targets[@]}"; do
    bin=$out/bin/fuzz_$t
    [ -x "$bin" ] || { echo "fuzz $t: $bin not built (make fuzz-build)" >&2; failed=1; continue; }
    read -r max_len timeout <<<"$(limits "$t")"
    mkdir -p "$out/corpus/$t"
    args=(-max_total_time="$secs" -timeout="$timeout" -max_len="$max_len" -print_final_stats=1
          -artifact_prefix="$out/crashes/$t-")
    [ -f "tests/fuzz/$t.dict" ] && args+=(-dict="tests/fuzz/$t.dict")
    log=$out/logs/$t.log
    "$bin" "${args[@]}" "$out/corpus/$t" "tests/fuzz/corpus/$t" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
    eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
    cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    ft=$(grep -o 'ft: [0-9]*' "$log" | tail -1 | cut -d' ' -f2)
    corp=$(find "$out/corpus/$t" -type f | wc -l)
    if [ $rc -eq 0 ]; then
        echo "fuzz $t: ok, ${runs:-?} runs in ${secs} s, ${eps:-?} exec/s, cov ${cov:-?}, ft ${ft:-?}, corpus $corp"
    else
        failed=1
        echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} runs, cov ${cov:-?}; log $log"
        { grep -aE '^(==[0-9]+==ERROR|SUMMARY|.*runtime error|fuzz_[a-z_]+: |gtfsrt: )' "$log" | head -6
          grep -aE -m1 ' in [^ ]+ /.*tests/fuzz/[^ ]+:[0-9]+' "$log"
          grep -a 'Test unit written' "$log"; } | sed 's/^/    /'
    fi
done
exit $failed

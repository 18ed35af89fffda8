#!/bin/sh
# The fork and signal stress programs RUNS times in a row under the library
# (the lock-debug build on odd runs, the shipped one on even runs), each
# under a time limit: a hang, a crash or a wrong result ends the loop with
# the run's output. Usage: soak_fork.sh RUNS BUILD_DIR
set -u
runs=${1:-200}
build=${2:-build}
limit=60
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# one NAME EXPECT LIB ARGS...: runs build/tests/progs/ARGS under LIB; stdout
# must match the extended regex EXPECT.
one() {
    name=$1 expect=$2 lib=$3
    shift 3
    rm -rf "$work/out"
    if ! timeout -k 5 $limit env LD_PRELOAD="$lib" \
        SOCKLEAK_OPTIONS="deadline_ms=50:output=$work/out:verbosity=0" \
        SOCKLEAK_TEST_DEADLINE_MS=50 "$build/tests/progs/$@" >"$work/stdout" 2>"$work/stderr"; then
        echo "soak-fork: run $i: $name failed or hung (limit $limit s):"
        cat "$work/stdout" "$work/stderr"
        exit 1
    fi
    if ! grep -Eq "$expect" "$work/stdout"; then
        echo "soak-fork: run $i: $name printed an unexpected result:"
        cat "$work/stdout" "$work/stderr"
        exit 1
    fi
}

start=$(date +%s)
i=1
while [ "$i" -le "$runs" ]; do
    lib="$build/libsockleak.so"
    [ $((i % 2)) -eq 1 ] && lib="$build/lockdebug/libsockleak.so"
    one "st_stress conns (forks)" '^connections 4800 leaked 7 forks' "$lib" st_stress conns 16 300 "$i" 1
    one "st_stress forklock" 'children ok' "$lib" st_stress forklock 1 4
    one "st_stress forklock (findings)" 'children ok' "$lib" st_stress forklock 1 4 100
    one "sg_handler fork" '^iterations 500 ' "$lib" sg_handler fork 500
    one "sg_handler dup" '^iterations 5000 ' "$lib" sg_handler dup 5000 40
    [ $((i % 20)) -eq 0 ] && echo "soak-fork: $i of $runs runs, $(( $(date +%s) - start )) s"
    i=$((i + 1))
done
echo "soak-fork: $runs runs, no hang, crash or wrong result ($(( $(date +%s) - start )) s)"

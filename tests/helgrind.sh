#!/bin/sh
# The thread-heavy and fork-heavy test programs, and the leaky example
# server, under Valgrind's helgrind with the helgrind build of the library
# (SL_VALGRIND: our futex locks and atomics annotated, preload/hg.h). Any
# race, lock-order inversion or misuse helgrind reports, in the program or in
# any fork child, fails; so do a hang (each run under a time limit), a crash
# or a wrong result. Usage: helgrind.sh BUILD_DIR HELGRIND_LIB
set -u
build=${1:-build}
lib=${2:-$build/helgrind/libsockleak.so}
limit=60
supp=$(dirname "$0")/helgrind.supp
work=$(mktemp -d)
server=
trap '[ -n "$server" ] && kill "$server" 2>/dev/null; rm -rf "$work"' EXIT

command -v valgrind >/dev/null || { echo "helgrind: valgrind is not installed (apt-get install valgrind)"; exit 1; }
[ -f "$lib" ] || { echo "helgrind: $lib is missing (make helgrind builds it)"; exit 1; }

# run NAME PROG ARGS...: starts PROG under helgrind in the background ($!),
# its output in $work/NAME.out, one helgrind log per process.
run() {
    name=$1
    shift
    rm -rf "$work/out-$name"
    timeout -k 5 $limit env LD_PRELOAD="$lib" \
        SOCKLEAK_OPTIONS="deadline_ms=1000:output=$work/out-$name:verbosity=0" \
        valgrind --tool=helgrind --error-exitcode=99 --suppressions="$supp" \
        --log-file="$work/$name.%p.log" "$@" >"$work/$name.out" 2>"$work/$name.err" &
}

fail() {
    echo "helgrind: $1: $2"
    cat "$work/$1.out" "$work/$1.err"
    for f in "$work/$1".*.log; do
        grep -q 'ERROR SUMMARY: 0 errors' "$f" || cat "$f"
    done
    exit 1
}

# check NAME RC EXPECT SECONDS: the exit status, stdout against the extended
# regex EXPECT, and every helgrind log (fork children have their own).
check() {
    [ "$2" -eq 99 ] && fail "$1" "helgrind reported errors"
    [ "$2" -eq 0 ] || fail "$1" "exit status $2 (124 or 137: over $limit s)"
    grep -Eq "$3" "$work/$1.out" || fail "$1" "unexpected output"
    for f in "$work/$1".*.log; do
        grep -q 'ERROR SUMMARY: 0 errors' "$f" || fail "$1" "helgrind reported errors in $f"
    done
    echo "helgrind: $1: 0 errors in $(ls "$work/$1".*.log | wc -l) processes, $4 s"
}

# one NAME EXPECT PROG ARGS...: a program that runs to its end by itself.
one() {
    name=$1 expect=$2
    shift 2
    t0=$(date +%s)
    run "$name" "$build/$@"
    wait $!
    check "$name" $? "$expect" $(($(date +%s) - t0))
}

one lc_threads '^served 400, kept 10$' tests/progs/lc_threads 400 10
one st_stress-conns '^connections 800 leaked 7 forks [1-9]' tests/progs/st_stress conns 8 100 1 1
one st_stress-forklock 'children ok' tests/progs/st_stress forklock 2 4 60
# Fork from a signal handler, re-armed only after the last one was handled
# (a fork under valgrind takes milliseconds).
one sg_handler-fork '^iterations 200 signals [1-9]' tests/progs/sg_handler fork 200 2000
# main leaves by pthread_exit; a thread of the program's sleeps (the
# library's thread then runs) and leaves last: it stops and joins ours.
one st_pexit-late '^atexit$' tests/progs/st_pexit late

# The example server, driven like the demo: two clients say QUIT, three hang
# up, which the server leaves in CLOSE_WAIT; the library must log all three.
t0=$(date +%s)
run leaky_server "$build/examples/leaky_server" 0 --max-conns 5 --linger-ms 2500
server=$!
port=
for i in $(seq 200); do
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$work/leaky_server.out")
    [ -n "$port" ] && break
    kill -0 "$server" 2>/dev/null || break
    sleep 0.1
done
[ -n "$port" ] || fail leaky_server "the server did not start"
"$build/examples/drive" "$port" 2 3 >"$work/drive.out" 2>&1 ||
    fail leaky_server "the driver saw unexpected replies: $(cat "$work/drive.out")"
wait "$server"
rc=$?
server=
check leaky_server $rc '^listening on' $(($(date +%s) - t0))
n=$(cat "$work"/out-leaky_server/*.jsonl | grep -c '"close_wait"')
[ "$n" -eq 3 ] || fail leaky_server "$n close_wait findings logged, expected 3"

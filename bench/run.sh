#!/bin/sh
# The sockleak benchmark suite (`make bench`). Runs the same work without and
# with the library, prints one table (medians of BENCH_REPS repetitions) and
# where each budget of the overhead stands. Budgets are reported, never
# enforced: the exit status is non-zero only when the suite itself breaks.
#
# Environment: BENCH_REPS (timed repetitions, default 5), BENCH_REAL_REPS
# (real programs, default 5), BENCH_ONLY (space-separated subset of
# "micro mem sweep real report peers"), BENCH_REPORT_MAX (largest synthetic report,
# default 1000000), BENCH_KEEP=1 keeps the work directory.
set -u

ROOT=$(cd "$(dirname "$0")/.." && pwd)
B=$ROOT/build
LIB=$B/libsockleak.so
TOOL=$B/sockleak
MICRO=$B/bench/micro
MEM=$B/bench/mem
IDLE=$B/bench/idle
PY=/usr/bin/python3
REPS=${BENCH_REPS:-5}
FORK_REPS=${BENCH_FORK_REPS:-15}
REAL_REPS=${BENCH_REAL_REPS:-5}
ONLY=${BENCH_ONLY:-micro mem sweep real report peers}
REPORT_MAX=${BENCH_REPORT_MAX:-1000000}

for f in "$LIB" "$TOOL" "$MICRO" "$MEM" "$IDLE"; do
    [ -x "$f" ] || [ -f "$f" ] || { echo "bench: $f is missing (run: make bench)" >&2; exit 2; }
done

WORK=$(mktemp -d /tmp/sockleak-bench.XXXXXX) || exit 2
# nginx workers run as an unprivileged user and must reach the document root.
chmod 755 "$WORK"
ROWS=$WORK/rows
BUDGETS=$WORK/budgets
NOTES=$WORK/notes
: >"$ROWS"; : >"$BUDGETS"; : >"$NOTES"
SERVER_PID=

cleanup() {
    [ -n "$SERVER_PID" ] && kill "$SERVER_PID" 2>/dev/null && wait "$SERVER_PID" 2>/dev/null
    if [ "${BENCH_KEEP:-0}" = 1 ]; then echo "bench: work directory kept: $WORK"; else rm -rf "$WORK"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

want() { case " $ONLY " in *" $1 "*) return 0 ;; esac; return 1; }
log() { echo "bench: $*" >&2; }
note() { echo "$*" >>"$NOTES"; log "$*"; }

# A deadline far beyond any run: no finding during a case. Otherwise the
# default configuration, what users run: the kernel sweep is on, so its
# thread exists and glibc takes its multi-threaded paths on the program's
# thread. The instruction counts are the program's main thread's alone
# (callgrind --separate-threads), so the sweep thread's own periodic work is
# not counted against each call; the sweep's cost has a line of its own
# ("sweep"). The "sweep=0" lines beside the default ones show the same calls
# without the sweep (and its thread).
SL_OPTS="deadline_ms=600000:output=$WORK/sl-out"
SL_OPTS_NOSWEEP="$SL_OPTS:sweep=0"
SL_OPTS_THREAD="$SL_OPTS:thread=1"
with_sl() { env LD_PRELOAD="$LIB" SOCKLEAK_OPTIONS="$SL_OPTS" "$@"; }
with_sl_nosweep() { env LD_PRELOAD="$LIB" SOCKLEAK_OPTIONS="$SL_OPTS_NOSWEEP" "$@"; }
with_sl_thread() { env LD_PRELOAD="$LIB" SOCKLEAK_OPTIONS="$SL_OPTS_THREAD" "$@"; }

median() {
    printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR]=$1}
        END { if (NR == 0) print "n/a"; else if (NR % 2) print a[(NR+1)/2];
              else printf "%.6g\n", (a[NR/2] + a[NR/2+1]) / 2 }'
}
# Half the range of a set of timings, as a percentage of their median.
spread() {
    printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR]=$1; s+=$1}
        END { if (NR < 2) { print "-"; exit } m = (NR % 2) ? a[(NR+1)/2] : (a[NR/2] + a[NR/2+1]) / 2;
              if (m > 0) printf "%.0f%%\n", (a[NR] - a[1]) / 2 / m * 100; else print "-" }'
}
# Least-disturbed value of a set: the smallest (lo) or largest (hi). Noise on
# a shared machine only ever slows a run down, so this is the steadier figure.
best() {
    dir=$1; shift
    printf '%s\n' "$@" | grep -v '^$' | sort -g | if [ "$dir" = lo ]; then head -n1; else tail -n1; fi
}
# The first and third quartiles of a set, "q1 to q3".
quartiles() {
    printf '%s\n' "$@" | grep -v '^$' | sort -g | awk '{a[NR]=$1}
        END { if (NR < 4) { print "n/a"; exit } printf "%.3f to %.3f\n", a[int((NR+3)/4)], a[int((3*NR+3)/4)] }'
}
calc() { awk "BEGIN { x = $1; printf \"%.6g\n\", x }" 2>/dev/null || echo n/a; }
fmt() { case "$1" in n/a|'') echo n/a ;; *) awk -v x="$1" -v d="${2:-1}" 'BEGIN { printf "%.*f\n", d, x }' ;; esac; }

# row CASE UNIT BASELINE WITH RATIO ADDED REPS [SPREAD]
# SPREAD: half the range of the timings over their median, baseline/with.
row() { printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$1" "$2" "$3" "$4" "$5" "$6" "$7" "${8:--}" >>"$ROWS"; }
# budget TEXT STATUS DETAIL
budget() { printf '%-50s %-8s %s\n' "$1" "$2" "$3" >>"$BUDGETS"; }
# verdict VALUE OP LIMIT -> met / not met / n/a
verdict() {
    case "$1" in n/a|'') echo "n/a"; return ;; esac
    awk -v v="$1" -v l="$3" -v op="$2" 'BEGIN {
        ok = (op == "<=") ? v <= l : (op == "<") ? v < l : (op == ">=") ? v >= l : 0;
        print ok ? "met" : "NOT MET" }'
}

echo "sockleak benchmarks  $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "machine: $(nproc) cpu ($(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //')), $(uname -sr), load $(cut -d' ' -f1-3 /proc/loadavg)"
echo "library: $LIB ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo '?')$(cd "$ROOT" && [ -n "$(git status --porcelain preload 2>/dev/null)" ] && echo ', preload/ modified'))"
echo "timings: median of $REPS runs (real programs: $REAL_REPS), baseline and sockleak interleaved;"
echo "         instruction counts: valgrind --tool=callgrind, (I(2N) - I(N)) / N, start-up cancels"
echo

# ------------------------------------------------------------------ micro
# Iterations for timing and N for callgrind (2N is also run).
micro_iters() {
    case "$1" in
    read_pipe|rw_pipe|recv_data|recv_data_nb|recv_eagain|emfile) echo 200000 ;;
    churn|serve) echo 2000 ;;
    eof|noeof) echo 20000 ;;
    esac
}
micro_cg_n() {
    case "$1" in
    read_pipe|rw_pipe|recv_data|recv_data_nb|recv_eagain|emfile) echo 50000 ;;
    churn|serve) echo 400 ;;
    eof|noeof) echo 2000 ;;
    esac
}

# ns per iteration of CASE, once; "with" runs under the library.
micro_ns() { # MODE CASE ITERS
    if [ "$1" = with ]; then with_sl "$MICRO" "$2" "$3"; else "$MICRO" "$2" "$3"; fi | awk '{print $3}'
}

# Instructions of one run's main thread under callgrind. MODE: base, with
# (the default configuration) or nosweep.
cg_total() { # MODE CASE N
    out=$WORK/cg.$1.$2.$3
    case $1 in
    with) opts=$SL_OPTS ;;
    nosweep) opts=$SL_OPTS_NOSWEEP ;;
    thread) opts=$SL_OPTS_THREAD ;;
    *) opts= ;;
    esac
    if [ -n "$opts" ]; then
        env LD_PRELOAD="$LIB" SOCKLEAK_OPTIONS="$opts" valgrind --tool=callgrind \
            --separate-threads=yes --callgrind-out-file="$out" "$MICRO" "$2" "$3" >/dev/null 2>&1
    else
        valgrind --tool=callgrind --separate-threads=yes --callgrind-out-file="$out" \
            "$MICRO" "$2" "$3" >/dev/null 2>&1
    fi
    sed -n 's/^summary: *//p' "$out-01" | head -n1
}

# Instructions per iteration: (I(2N) - I(N)) / N
cg_per_iter() { # MODE CASE
    n=$(micro_cg_n "$2")
    a=$(cg_total "$1" "$2" "$n"); b=$(cg_total "$1" "$2" $((2 * n)))
    [ -n "$a" ] && [ -n "$b" ] || { echo n/a; return; }
    calc "($b - $a) / $n"
}

HAVE_VG=0
command -v valgrind >/dev/null 2>&1 && HAVE_VG=1

if want micro; then
    log "micro: timing and counting instructions"
    for c in read_pipe rw_pipe recv_data recv_data_nb recv_eagain churn serve eof noeof emfile; do
        it=$(micro_iters $c)
        bl=; wl=
        r=0
        while [ $r -lt "$REPS" ]; do
            bl="$bl $(micro_ns base $c "$it")"
            wl="$wl $(micro_ns with $c "$it")"
            r=$((r + 1))
        done
        eval "NS_B_$c=\$(median $bl)"
        eval "NS_W_$c=\$(median $wl)"
        eval "SP_$c=\"\$(spread $bl)/\$(spread $wl)\""
        eval "BEST_$c=\$(calc \"\$(best lo $wl) / \$(best lo $bl)\")"
        if [ $HAVE_VG = 1 ]; then
            eval "IR_B_$c=\$(cg_per_iter base $c)"
            eval "IR_W_$c=\$(cg_per_iter with $c)"
        else
            eval "IR_B_$c=n/a; IR_W_$c=n/a"
        fi
        eval "log \"  $c: ns \$NS_B_$c -> \$NS_W_$c, instr/iter \$IR_B_$c -> \$IR_W_$c\""
    done
    [ $HAVE_VG = 1 ] || note "valgrind missing: no instruction counts"

    micro_row() { # CASE LABEL
        eval "nb=\$NS_B_$1 nw=\$NS_W_$1 ib=\$IR_B_$1 iw=\$IR_W_$1"
        ratio=$(calc "$nw / $nb"); added=$(calc "$iw - $ib")
        [ "$ib" = n/a ] && added=n/a
        eval "sp=\$SP_$1"
        row "$2" "ns/call" "$(fmt "$nb")" "$(fmt "$nw")" "$(fmt "$ratio" 3)" "$(fmt "$added") instr" "$REPS" "$sp"
        eval "ADD_$1=\$added RATIO_$1=\$ratio"
    }
    micro_row read_pipe "read() untracked fd (pipe)"
    micro_row rw_pipe "write()+read() untracked fd (pipe)"
    micro_row recv_data "recv() tracked TCP, data ready"
    micro_row recv_data_nb "recv() tracked, non-blocking (event loop)"
    micro_row recv_eagain "recv() tracked TCP, EAGAIN"
    micro_row churn "churn: connect/accept/EOF/close"
    micro_row serve "serve: churn + 1 request byte read"
    micro_row emfile "socket() failing with EMFILE (a storm)"
    # Switched-off lines: the sweep off (no work pending, so no thread of
    # ours in any program), and thread=1 (the library's thread from the
    # first socket, as in a multi-threaded program).
    for v in "recv_data nosweep" "recv_data_nb nosweep" "recv_data_nb thread" "churn nosweep"; do
        set -- $v
        c=$1 mode=$2
        it=$(micro_iters $c); wl=; r=0
        while [ $r -lt "$REPS" ]; do
            if [ $mode = thread ]; then o=$(with_sl_thread "$MICRO" $c "$it"); else o=$(with_sl_nosweep "$MICRO" $c "$it"); fi
            wl="$wl $(echo "$o" | awk '{print $3}')"
            r=$((r + 1))
        done
        nw=$(median $wl); iw=n/a
        [ $HAVE_VG = 1 ] && iw=$(cg_per_iter $mode $c)
        eval "nb=\$NS_B_$c ib=\$IR_B_$c"
        added=$(calc "$iw - $ib"); [ "$iw" = n/a ] && added=n/a
        case "$c $mode" in
        "recv_data nosweep") label="recv() tracked TCP, data, sweep=0" ;;
        "recv_data_nb nosweep") label="recv() non-blocking, sweep=0" ;;
        "recv_data_nb thread") label="recv() non-blocking, thread=1" ;;
        *) label="churn, sweep=0" ;;
        esac
        row "$label" "ns/call" "$(fmt "$nb")" "$(fmt "$nw")" "$(fmt "$(calc "$nw / $nb")" 3)" "$(fmt "$added") instr" "$REPS" "-/$(spread $wl)"
    done
    micro_row eof "socketpair+close+EOF read+close"
    micro_row noeof "socketpair+close+close (no read)"
    # One EOF read (classification check, stack capture, deadline queued):
    # the eof loop minus the same loop without the read.
    eb=$(calc "$NS_B_eof - $NS_B_noeof"); ew=$(calc "$NS_W_eof - $NS_W_noeof")
    eadd=$(calc "($IR_W_eof - $IR_B_eof) - ($IR_W_noeof - $IR_B_noeof)")
    [ "$IR_B_eof" = n/a ] && eadd=n/a
    row "one EOF read (eof - noeof)" "ns/call" "$(fmt "$eb")" "$(fmt "$ew")" "$(fmt "$(calc "$ew / $eb")" 3)" "$(fmt "$eadd") instr" "$REPS"
    ADD_EOFREAD=$eadd
    # One stack capture from C, and from C called 10 frames deep in a
    # language (bench/pycapture.c, rbcapture.c, plcapture.c): baseline
    # column native, "with" column under the language's frames.
    capture_line() { # PROGRAM WORD LANGUAGE: WORD is the program's output tag
        if [ ! -x "$B/bench/$1" ]; then
            note "build/bench/$1 missing: no $3 stack capture line"
            return
        fi
        cn=; cl=; r=0
        while [ $r -lt "$REPS" ]; do
            out=$("$B/bench/$1" 100000)
            cn="$cn $(echo "$out" | awk '$1 == "native" {print $2}')"
            cl="$cl $(echo "$out" | awk -v w="$2" '$1 == w {print $3}')"
            r=$((r + 1))
        done
        nn=$(median $cn); nl=$(median $cl)
        row "capture: native | 10 $3 frames" "ns/call" "$(fmt "$nn")" "$(fmt "$nl")" \
            "$(fmt "$(calc "$nl / $nn")" 3)" "$(fmt "$(calc "$nl - $nn")") ns" "$REPS" "$(spread $cn)/$(spread $cl)"
        log "  stack capture: native $nn ns, 10 $3 frames $nl ns"
    }
    capture_line pycapture python Python
    capture_line rbcapture ruby Ruby
    capture_line plcapture perl Perl

    # Java frames: the JVMTI agent's part of a capture (bench/java/agentbench.c
    # preloaded instead of the library calls the agent's frames function at
    # a socket() made 10 Java frames deeper than OpenClose's own), per call
    # once the methods are cached. The library's part (splice, interning) is
    # that of the other languages.
    AGENT=$B/sockleak-java/libsockleak_jvmti.so
    if [ -f "$AGENT" ] && command -v javac >/dev/null 2>&1 && command -v java >/dev/null 2>&1 &&
        cc -O2 -fPIC -shared -I"$ROOT/preload" -o "$WORK/agentbench.so" \
            "$ROOT/bench/java/agentbench.c" -ldl 2>/dev/null &&
        javac -d "$WORK/java" "$ROOT/bench/java/OpenClose.java" 2>/dev/null; then
        jl=; jf=; r=0
        while [ $r -lt "$REPS" ]; do
            out=$(LD_PRELOAD="$WORK/agentbench.so" AGENTBENCH_N=20000 \
                java -agentpath:"$AGENT" -cp "$WORK/java" OpenClose 10 10 2>&1 >/dev/null |
                sed -n 's/^agentbench: \([0-9]*\) frames, .* then \([0-9.]*\) us per call.*/\1 \2/p')
            set -- $out
            jf=${1:-}; jl="$jl $(calc "${2:-0} * 1000")"
            r=$((r + 1))
        done
        nj=$(median $jl)
        row "capture: Java agent, $jf Java frames" "ns/call" "-" "$(fmt "$nj")" "-" "agent only" "$REPS" "-/$(spread $jl)"
        log "  Java agent: $jf frames, $nj ns per call"
    else
        note "no JDK or no build/sockleak-java agent: no Java capture line"
    fi

    # A socket() made in a signal handler, by what the signal interrupted
    # (tests/integration/progs/sg_capture.c): its creation stack's capture
    # goes through the signal frame. A PLT stub's unwind rule sends libunwind
    # down its slow path, which masked signals around each of its locks.
    SGC=$B/tests/progs/sg_capture
    if [ -x "$SGC" ]; then
        for w in main plt libc lib; do
            bl=; wl=; r=0
            while [ $r -lt "$REPS" ]; do
                bl="$bl $("$SGC" $w 2000 | awk '{print $3}')"
                wl="$wl $(with_sl "$SGC" $w 2000 | awk '{print $3}')"
                r=$((r + 1))
            done
            nb=$(median $bl); nw=$(median $wl)
            label="socket() in a handler, interrupted $w"
            [ $w = main ] && label="socket() from main, no handler"
            [ $w = lib ] && label="socket() in a handler, interrupted sockleak"
            row "$label" "ns/call" "$(fmt "$nb")" "$(fmt "$nw")" "$(fmt "$(calc "$nw / $nb")" 3)" "$(fmt "$(calc "$nw - $nb")") ns" "$REPS" "$(spread $bl)/$(spread $wl)"
            # Added time from the least-disturbed runs: noise only slows down.
            eval "SGC_ADD_$w=\$(calc \"\$(best lo $wl) - \$(best lo $bl)\")"
        done
        if [ "$(calc "$SGC_ADD_libc > 0")" = 1 ]; then
            v=$(verdict "$(calc "$SGC_ADD_plt / $SGC_ADD_libc")" '<=' 3)
        else
            v=n/a
        fi
        budget "capture in a handler at a PLT stub: <= 3x at libc" "$v" "$(fmt "$SGC_ADD_plt") ns added against $(fmt "$SGC_ADD_libc") ns (best of $REPS)"
    else
        note "build/tests/progs/sg_capture missing: no signal-handler capture lines"
    fi

    budget "read() untracked: <= 20 added instructions" "$(verdict "$(fmt "$ADD_read_pipe" 0)" '<=' 20)" "$(fmt "$ADD_read_pipe") instr/call"
    budget "write()+read() untracked: <= 32 added instr" "$(verdict "$(fmt "$ADD_rw_pipe" 0)" '<=' 32)" "$(fmt "$ADD_rw_pipe") instr/pair (write alone: $(fmt "$(calc "$ADD_rw_pipe - $ADD_read_pipe")"))"
    budget "churn: <= 3500 added instructions per cycle" "$(verdict "$(fmt "$ADD_churn" 0)" '<=' 3500)" "$(fmt "$ADD_churn") instr/cycle"
    # System calls the library adds per churn cycle (strace -c, N and 2N
    # cycles, so start-up cancels): one is allowed, the inode check at
    # end-of-stream.
    if command -v strace >/dev/null 2>&1; then
        sys_counts() { # MODE CASE N -> "name calls" lines
            f=$WORK/strace.$1.$2.$3
            if [ "$1" = with ]; then
                with_sl strace -f -c -o "$f" "$MICRO" "$2" "$3" >/dev/null
            else
                strace -f -c -o "$f" "$MICRO" "$2" "$3" >/dev/null
            fi
            awk '$1 ~ /^[0-9.]+$/ && NF >= 5 && $NF != "total" { print $NF, $4 }' "$f" | sort
        }
        sys_added() { # CASE N -> "total name added ..." per iteration
            for m in base with; do
                sys_counts $m "$1" "$2" >"$WORK/sys.$m.1"; sys_counts $m "$1" $((2 * $2)) >"$WORK/sys.$m.2"
                join -a2 -e 0 -o 0,1.2,2.2 "$WORK/sys.$m.1" "$WORK/sys.$m.2" |
                    awk -v n="$2" '{ d = ($3 - $2) / n; if (d > 0.01) printf "%s %.2f\n", $1, d }' >"$WORK/sys.$m"
            done
            join -a2 -e 0 -o 0,1.2,2.2 "$WORK/sys.base" "$WORK/sys.with" |
                awk '{ d = $3 - $2; if (d > 0.01) { t += d; l = l sprintf(" %s %.2f", $1, d) } }
                     END { printf "%.2f%s\n", t, l }'
        }
        SYS_ADDED=$(sys_added churn 1000)
        set -- $SYS_ADDED
        budget "churn: <= 1 added system call per cycle (EOF)" "$(verdict "$1" '<=' 1)" "$SYS_ADDED"
        # fork+waitpid, single-threaded with TCP sockets: the capped wait's
        # pidfd (open, placed, polled, closed), the reap, our log and netlink
        # socket moved low and back across the fork with every signal
        # blocked (so the kernel copies a small fd table), the child's gettid
        # and its closes of the parent's log and netlink socket.
        SYS_ADDED=$(sys_added forkwait_nb 100)
        set -- $SYS_ADDED
        budget "fork+waitpid, TCP socket: <= 22 added system calls" "$(verdict "$1" '<=' 22)" "$SYS_ADDED"
    fi
    # fork()+waitpid() of a process that holds a TCP connection: the child
    # makes nothing of the library's until it has work due (its sweep's
    # socket and log, a thread only if it blocks). forkwait: blocking
    # sockets (made by a blocking connect and accept, which the library
    # caps: the parent stays single-threaded); forkwait_nb: non-blocking
    # ones.
    # forkwait_nosock: a process that holds no socket (nothing captured).
    # The page faults per cycle (micro's fields 4 and 5: getrusage, the
    # parent's and the child's) move by one or two with the address layout
    # (whether a stack frame or our thread-local block shares a page with
    # the program's): their medians are shown. On this VM (paravirtualized
    # page tables) a fault costs 10 to 50 us: `perf record -e cpu-clock
    # -F 20000` on `micro forkwait_nb 2000` puts 33 us of each cycle on the
    # parent's first write to our thread-local page (the fork site's
    # capture), 49 on the child's first instruction of ours, 12 on its read
    # of our .gnu.hash when that was a fault.
    # A cycle's time moves by 5 to 10% from one run to the next here, the
    # same way for the runs next to each other: each round runs the three
    # one after the other (in an order rotated each round), and the ratio
    # judged is the median of the rounds' ratios (FORK_REPS rounds).
    for c in forkwait forkwait_nb forkwait_nosock; do
        bl=; wl=; nl=; bp=; bc=; wp=; wc=; rw=; rn=; r=0
        while [ $r -lt "$FORK_REPS" ]; do
            for k in 0 1 2; do
                case $(((k + r) % 3)) in
                0) set -- $("$MICRO" $c 300)
                   b=$3; bl="$bl $3"; bp="$bp ${4:-}"; bc="$bc ${5:-}" ;;
                1) set -- $(with_sl "$MICRO" $c 300)
                   w=$3; wl="$wl $3"; wp="$wp ${4:-}"; wc="$wc ${5:-}" ;;
                2) n=$(with_sl_nosweep "$MICRO" $c 300 | awk '{print $3}'); nl="$nl $n" ;;
                esac
            done
            rw="$rw $(calc "$w / $b")"; rn="$rn $(calc "$n / $b")"
            r=$((r + 1))
        done
        fb=$(median $bl); fw=$(median $wl); fn=$(median $nl)
        what="holding a TCP socket"
        [ $c = forkwait_nb ] && what="holding a non-blocking TCP socket"
        [ $c = forkwait_nosock ] && what="holding no socket"
        fr=$(median $rw)
        row "fork+waitpid, $what" "ns/call" "$(fmt "$fb")" "$(fmt "$fw")" "$(fmt "$fr" 3)" "-" "$FORK_REPS" "$(spread $bl)/$(spread $wl)"
        row "fork+waitpid, $what, sweep=0" "ns/call" "$(fmt "$fb")" "$(fmt "$fn")" "$(fmt "$(median $rn)" 3)" "-" "$FORK_REPS" "-/$(spread $nl)"
        budget "fork+waitpid $what: <= 1.25x" "$(verdict "$fr" '<=' 1.25)" "ratio $(fmt "$fr" 3) median of $FORK_REPS rounds (quartiles $(quartiles $rw)), $(fmt "$(calc "$fw / $fb")" 3) of the medians, $(fmt "$(calc "$(best lo $wl) / $(best lo $bl)")" 3) best"
        set -- "$(median $bp)" "$(median $bc)" "$(median $wp)" "$(median $wc)"
        if [ "$1" != n/a ] && [ "$3" != n/a ]; then
            row "fork+waitpid, $what: faults, parent" "faults" "$1" "$3" "-" "$(fmt "$(calc "$3 - $1")" 2)" "$FORK_REPS" "-"
            row "fork+waitpid, $what: faults, child" "faults" "$2" "$4" "-" "$(fmt "$(calc "$4 - $2")" 2)" "$FORK_REPS" "-"
            # The child's: our fork code's page, the page of state fork
            # writes and, in some layouts, our thread-local block's page.
            budget "fork+waitpid $what: <= 4 added child faults" "$(verdict "$(calc "$4 - $2")" '<=' 4)" "$(fmt "$(calc "$4 - $2")" 2) in the child, $(fmt "$(calc "$3 - $1")" 2) in the parent (medians)"
        fi
    done
    # Both kinds of socket: the blocking one's read is tried with
    # MSG_DONTWAIT first (track_block.c), the larger of the two is judged.
    recv_st=$(awk -v a="$ADD_recv_data" -v b="$ADD_recv_data_nb" 'BEGIN { if (a == "n/a" || b == "n/a") print "n/a"; else print (a > b ? a : b) }')
    budget "recv() tracked, single-threaded: <= 25 added" "$(verdict "$(fmt "$recv_st" 0)" '<=' 25)" "$(fmt "$ADD_recv_data") instr/call on a blocking socket, $(fmt "$ADD_recv_data_nb") on a non-blocking one"
    budget "recv() tracked, data: <= 40 added instructions" "$(verdict "$(fmt "$ADD_recv_data" 0)" '<=' 40)" "$(fmt "$ADD_recv_data") instr/call"
    budget "recv() tracked, data: < 5% added time" "$(verdict "$RATIO_recv_data" '<' 1.05)" "ratio $(fmt "$RATIO_recv_data" 3) median, $(fmt "$BEST_recv_data" 3) best-of-$REPS"
    budget "recv() tracked, EAGAIN: <= 40 added instructions" "$(verdict "$(fmt "$ADD_recv_eagain" 0)" '<=' 40)" "$(fmt "$ADD_recv_eagain") instr/call"
    budget "recv() tracked, EAGAIN: < 5% added time" "$(verdict "$RATIO_recv_eagain" '<' 1.05)" "ratio $(fmt "$RATIO_recv_eagain" 3) median, $(fmt "$BEST_recv_eagain" 3) best-of-$REPS"

    # Start-up and exit of a program that opens no socket: wall time of the
    # whole process, and instructions (constructor, binding the real calls).
    bl=; wl=; r=0
    while [ $r -lt "$REPS" ]; do
        t0=$(date +%s%N); "$MICRO" none 0 >/dev/null; t1=$(date +%s%N)
        bl="$bl $(((t1 - t0) / 1000))"
        t0=$(date +%s%N); with_sl "$MICRO" none 0 >/dev/null; t1=$(date +%s%N)
        wl="$wl $(((t1 - t0) / 1000))"
        r=$((r + 1))
    done
    sb=$(median $bl); sw=$(median $wl); sadd=n/a
    if [ $HAVE_VG = 1 ]; then
        a=$(cg_total base none 0); b=$(cg_total with none 0)
        [ -n "$a" ] && [ -n "$b" ] && sadd=$(calc "$b - $a")
    fi
    row "start-up + exit, no sockets" "us" "$(fmt "$sb" 0)" "$(fmt "$sw" 0)" "$(fmt "$(calc "$sw / $sb")" 3)" "$(fmt "$sadd" 0) instr" "$REPS" "$(spread $bl)/$(spread $wl)"
    budget "start-up + exit: <= 48000 added instructions" "$(verdict "$(fmt "$sadd" 0)" '<=' 48000)" "$(fmt "$sadd" 0) instr"

    if [ $HAVE_VG = 1 ] && command -v callgrind_annotate >/dev/null 2>&1; then
        # Where one churn cycle's instructions go under the library: collect
        # inside churn_iter only, so start-up is left out; Ir per cycle.
        n=$(micro_cg_n churn)
        f=$WORK/cg.profile.churn
        with_sl valgrind --tool=callgrind --toggle-collect=churn_iter --callgrind-out-file="$f" \
            "$MICRO" churn "$n" >/dev/null 2>&1
        cycles=$((n + 200))
        for incl in no yes; do
            what="self"; [ $incl = yes ] && what="inclusive"
            echo "profile: one churn cycle under sockleak, $what instructions (callgrind, $cycles cycles):"
            callgrind_annotate --inclusive=$incl "$f" 2>/dev/null | awk -v c=$cycles '
                /^-+$/ { d++; next }
                d >= 2 && /PROGRAM TOTALS/ { t = $1; gsub(",", "", t); next }
                d >= 3 && NF && $1 ~ /^[0-9,]+$/ && n < 12 {
                    ir = $1; gsub(",", "", ir); line = $0
                    if (ir + 0 >= t + 0 || line !~ /\[/) next  # callers, churn_iter, by-file duplicates
                    sub(/^ *[0-9,]+ +\( *[0-9.]+%\) +/, "", line)
                    sub(/\[[^]]*\//, "[", line)
                    printf "    %8.0f  %s\n", ir / c, line; n++ }
                END { printf "    %8.0f  total per cycle\n", t / c }'
        done >"$WORK/profile"
    fi
fi

# ------------------------------------------------------------------ memory
if want mem; then
    log "memory: tracked sockets"
    for m in open eof; do
        bl=; wl=; nsock=
        r=0
        while [ $r -lt 3 ]; do
            set -- $("$MEM" $m 100000); nsock=$2; bl="$bl $3"
            set -- $(with_sl "$MEM" $m 100000); wl="$wl $3"
            r=$((r + 1))
        done
        mb=$(median $bl); mw=$(median $wl)
        per=$(calc "($mw - $mb) / $nsock")
        label="RSS, $nsock sockets open"
        [ $m = eof ] && label="RSS, $nsock sockets after EOF"
        row "$label" "KiB" "$(fmt "$(calc "$mb / 1024")" 0)" "$(fmt "$(calc "$mw / 1024")" 0)" "-" "$(fmt "$per") B/sock" 3
        [ "$nsock" -lt 100000 ] && [ $m = open ] &&
            note "memory: RLIMIT_NOFILE hard limit allows $nsock sockets, not 100000 (no CAP_SYS_RESOURCE); per-socket figures scale linearly: x100000 = $(fmt "$(calc "$per * 100000 / 1048576")") MiB"
        eval "PER_$m=\$per"
    done
    budget "memory: < 128 bytes per tracked socket" "$(verdict "$PER_open" '<' 128)" "$(fmt "$PER_open") B open, $(fmt "$PER_eof") B after EOF"
fi

# ------------------------------------------------------------------ real programs
wait_port() { # PORT: up to 10 s for something to listen on 127.0.0.1:PORT
    i=0
    while [ $i -lt 100 ]; do
        ss -Hltn "sport = :$1" 2>/dev/null | grep -q . && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

# Server on CPU 0, load generator on CPU 1 (when there are two and taskset
# exists): they no longer trade places on one core, which halves the noise.
SRV_CPU=; CLI_CPU=
if command -v taskset >/dev/null 2>&1 && [ "$(nproc)" -ge 2 ]; then
    SRV_CPU="taskset -c 0"; CLI_CPU="taskset -c 1"
fi

# start_server MODE CMD...: runs CMD in the background, under `sockleak run`
# when MODE is with; SERVER_PID is the pid to signal.
start_server() {
    mode=$1; shift
    if [ "$mode" = with ]; then
        $SRV_CPU "$TOOL" run --deadline 5000 --quiet --output "$WORK/sl-real" -- "$@" >"$WORK/server.out" 2>&1 &
    else
        $SRV_CPU "$@" >"$WORK/server.out" 2>&1 &
    fi
    SERVER_PID=$!
}
stop_server() {
    [ -n "$SERVER_PID" ] || return 0
    kill "$SERVER_PID" 2>/dev/null
    i=0
    while kill -0 "$SERVER_PID" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
    kill -KILL "$SERVER_PID" 2>/dev/null
    wait "$SERVER_PID" 2>/dev/null
    SERVER_PID=
}

# real_case NAME BUDGET_RATIO START_FN BENCH_FN [P99_LIMIT]: BENCH_FN prints
# "RPS P99_MS"; with P99_LIMIT, a budget on the p99 ratio too.
real_case() {
    name=$1 limit=$2 startfn=$3 benchfn=$4 p99limit=${5:-}
    rb=; rw=; pb=; pw=
    r=0
    while [ $r -lt "$REAL_REPS" ]; do
        for mode in base with; do
            $startfn $mode || { stop_server; note "$name: server did not start ($mode), see $WORK/server.out"; return; }
            set -- $($benchfn) n/a n/a
            stop_server
            if [ $mode = base ]; then rb="$rb $1"; pb="$pb $2"; else rw="$rw $1"; pw="$pw $2"; fi
        done
        r=$((r + 1))
    done
    mrb=$(median $rb); mrw=$(median $rw); ratio=$(calc "$mrw / $mrb")
    row "$name req/s" "req/s" "$(fmt "$mrb" 0)" "$(fmt "$mrw" 0)" "$(fmt "$ratio" 3)" "-" "$REAL_REPS" "$(spread $rb)/$(spread $rw)"
    mpb=$(median $pb); mpw=$(median $pw)
    row "$name p99" "ms" "$(fmt "$mpb" 3)" "$(fmt "$mpw" 3)" "$(fmt "$(calc "$mpw / $mpb")" 3)" "-" "$REAL_REPS" "$(spread $pb)/$(spread $pw)"
    pct=$(awk -v l="$limit" 'BEGIN { printf "%d", l * 100 }')
    bratio=$(calc "$(best hi $rw) / $(best hi $rb)")
    budget "$name: >= $pct% req/s" "$(verdict "$ratio" '>=' "$limit")" "ratio $(fmt "$ratio" 3) median, $(fmt "$bratio" 3) best-of-$REAL_REPS"
    if [ -n "$p99limit" ]; then
        pratio=$(calc "$mpw / $mpb")
        budget "$name: p99 <= ${p99limit}x" "$(verdict "$pratio" '<=' "$p99limit")" "ratio $(fmt "$pratio" 3) median, $(fmt "$(calc "$(best lo $pw) / $(best lo $pb)")" 3) best-of-$REAL_REPS"
    fi
}

REDIS_PORT=16379
redis_start() {
    start_server "$1" redis-server --port $REDIS_PORT --bind 127.0.0.1 --save '' --appendonly no \
        --protected-mode no --daemonize no --logfile "$WORK/redis.log" --dir "$WORK"
    wait_port $REDIS_PORT
}
# SET and GET: mean of the two rates, worse of the two p99 (CSV output).
redis_bench() {
    $CLI_CPU redis-benchmark -h 127.0.0.1 -p $REDIS_PORT -q -n 50000 -t set,get -k "$REDIS_K" --csv 2>/dev/null |
        awk -F'"' '$2 == "SET" || $2 == "GET" { r += $4; if ($14 > p) p = $14; n++ }
                   END { if (n) printf "%f %f\n", r / n, p; else print "n/a n/a" }'
}

NGINX_PORT=18080
nginx_start() {
    d=$WORK/nginx
    mkdir -p "$d/www" "$d/tmp"
    [ -f "$d/www/index.html" ] || head -c 612 /dev/zero | tr '\0' x >"$d/www/index.html"
    cat >"$d/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $d/nginx.pid;
error_log $d/error.log warn;
events { worker_connections 1024; }
http {
    access_log off;
    client_body_temp_path $d/tmp/body;
    proxy_temp_path $d/tmp/proxy;
    fastcgi_temp_path $d/tmp/fastcgi;
    uwsgi_temp_path $d/tmp/uwsgi;
    scgi_temp_path $d/tmp/scgi;
    keepalive_requests 1000000;
    server {
        listen 127.0.0.1:$NGINX_PORT;
        root $d/www;
    }
}
EOF
    start_server "$1" nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log"
    wait_port $NGINX_PORT
}
# wrk: requests/s and the 99% latency in ms.
nginx_bench() {
    if [ -n "$WRK_HDR" ]; then
        $CLI_CPU wrk -t 1 -c 32 -d 5s --latency -H "$WRK_HDR" "http://127.0.0.1:$NGINX_PORT/index.html"
    else
        $CLI_CPU wrk -t 1 -c 32 -d 5s --latency "http://127.0.0.1:$NGINX_PORT/index.html"
    fi 2>/dev/null | awk '
        function ms(v) { if (v ~ /us$/) return v * 0.001; if (v ~ /ms$/) return v + 0;
                         if (v ~ /s$/) return v * 1000; return v }
        $1 == "Requests/sec:" { rps = $2 }
        $1 == "99%" { p99 = ms($2) }
        END { if (rps == "") print "n/a n/a"; else printf "%s %s\n", rps, p99 }'
}

# ------------------------------------------------------------------ sweep
# A process holding 10,000 idle TCP sockets: the kernel sweep at its default
# period (the default deadline) against the same process without the library.
if want sweep; then
    log "sweep: 10000 idle TCP sockets for 10 s"
    bl=; wl=; r=0
    while [ $r -lt 3 ]; do
        set -- $("$IDLE" 10000 10); nsock=$2; bl="$bl $4"
        set -- $(env LD_PRELOAD="$LIB" SOCKLEAK_OPTIONS="output=$WORK/sweep-out" "$IDLE" 10000 10)
        wl="$wl $4"
        r=$((r + 1))
    done
    cb=$(median $bl); cw=$(median $wl)
    pct=$(calc "($cw - $cb) / 10 * 100")
    row "CPU, $nsock idle TCP sockets, 10 s" "s" "$(fmt "$cb" 3)" "$(fmt "$cw" 3)" "-" "$(fmt "$pct" 2) % CPU" 3
    budget "sweep, 10,000 idle sockets: < 1% CPU" "$(verdict "$pct" '<' 1)" "$(fmt "$pct" 2)% of one core at the default period"
fi

if want real; then
    for p in redis-server redis-benchmark ss; do
        command -v $p >/dev/null 2>&1 || { note "real: $p not installed: redis cases skipped"; NO_REDIS=1; }
    done
    if [ -z "${NO_REDIS:-}" ]; then
        log "real: redis-server under redis-benchmark"
        REDIS_K=1 real_case "redis keep-alive" 0.98 redis_start redis_bench
        REDIS_K=0 real_case "redis conn/request" 0.90 redis_start redis_bench
    fi
    for p in nginx wrk ss; do
        command -v $p >/dev/null 2>&1 || { note "real: $p not installed: nginx cases skipped"; NO_NGINX=1; }
    done
    if [ -z "${NO_NGINX:-}" ]; then
        log "real: nginx under wrk"
        WRK_HDR= real_case "nginx keep-alive" 0.98 nginx_start nginx_bench
        WRK_HDR="Connection: close" real_case "nginx Connection: close" 0.98 nginx_start nginx_bench 1.1
    fi
fi

# ------------------------------------------------------------------ report
if want report; then
    log "report: synthetic findings"
    last_s=0
    for n in 10000 100000 1000000; do
        [ "$n" -le "$REPORT_MAX" ] || { note "report: $n findings skipped (BENCH_REPORT_MAX=$REPORT_MAX)"; continue; }
        # Growth is about linear: skip a size that would take over 3 minutes.
        if [ "$(awk -v s="$last_s" 'BEGIN { print (s * 10 > 180) }')" = 1 ]; then
            note "report: $n findings skipped: ${last_s}s for $((n / 10)) predicts over 3 minutes"
            continue
        fi
        d=$WORK/logs.$n
        "$PY" "$ROOT/bench/gen_logs.py" --findings $n --binary "$MICRO" --out "$d" ||
            { note "report: gen_logs.py failed for $n"; continue; }
        reps=3; [ $n -ge 1000000 ] && reps=1
        tl=; kl=; r=0
        while [ $r -lt $reps ]; do
            if [ -x /usr/bin/time ]; then
                /usr/bin/time -f '%e %M' -o "$WORK/time.txt" \
                    "$TOOL" report --format json "$d" >/dev/null 2>"$WORK/report.err"
                rc=$?
                set -- $(tail -n1 "$WORK/time.txt")
                tl="$tl $1"; kl="$kl $2"
            else
                t0=$(date +%s.%N)
                "$TOOL" report --format json "$d" >/dev/null 2>"$WORK/report.err"
                rc=$?
                t1=$(date +%s.%N)
                tl="$tl $(calc "$t1 - $t0")"
            fi
            [ $rc = 0 ] || note "report: exit status $rc for $n findings: $(head -c 200 "$WORK/report.err")"
            r=$((r + 1))
        done
        last_s=$(median $tl)
        peak=-
        [ -n "$kl" ] && peak="$(fmt "$(calc "$(median $kl) / 1024")" 0) MiB RSS"
        row "report $n findings ($((n / 1000)) procs)" "s" "-" "$(fmt "$last_s" 2)" "-" "$peak" $reps
        eval "REPORT_S_$n=\$last_s"
        rm -rf "$d"
    done
    if [ -n "${REPORT_S_1000000:-}" ]; then
        budget "report: 1M findings in < 5 s" "$(verdict "$REPORT_S_1000000" '<' 5)" "$(fmt "$REPORT_S_1000000" 2) s"
    elif [ -n "${REPORT_S_100000:-}" ]; then
        budget "report: 1M findings in < 5 s" "n/a" "not run; 100k took $(fmt "$REPORT_S_100000" 2) s"
    fi
fi

# ------------------------------------------------------------------ peers
if want peers; then
    it=$(micro_iters churn)
    # The churn case's baseline and sockleak figures come from the micro
    # section when it ran; measured here otherwise.
    if [ -z "${NS_B_churn:-}" ]; then
        bl=; wl=; r=0
        while [ $r -lt "$REPS" ]; do
            bl="$bl $(micro_ns base churn "$it")"; wl="$wl $(micro_ns with churn "$it")"; r=$((r + 1))
        done
        NS_B_churn=$(median $bl); NS_W_churn=$(median $wl)
        row "churn: connect/accept/EOF/close" "ns/call" "$(fmt "$NS_B_churn")" "$(fmt "$NS_W_churn")" "$(fmt "$(calc "$NS_W_churn / $NS_B_churn")" 3)" "-" "$REPS" "$(spread $bl)/$(spread $wl)"
    fi
    if command -v strace >/dev/null 2>&1; then
        log "peers: strace -f"
        sl=; r=0
        while [ $r -lt "$REPS" ]; do
            sl="$sl $(strace -f -e trace=network,close -o /dev/null "$MICRO" churn "$it" | awk '{print $3}')"
            r=$((r + 1))
        done
        m=$(median $sl)
        row "churn under strace -f (network,close)" "ns/call" "$(fmt "$NS_B_churn")" "$(fmt "$m")" "$(fmt "$(calc "$m / $NS_B_churn")" 3)" "-" "$REPS" "-/$(spread $sl)"
    else
        note "peers: strace not installed: skipped"
    fi
    if [ $HAVE_VG = 1 ]; then
        log "peers: valgrind --tool=none --track-fds=yes"
        sl=; r=0
        while [ $r -lt "$REPS" ]; do
            sl="$sl $(valgrind -q --tool=none --track-fds=yes --log-file=/dev/null "$MICRO" churn "$it" | awk '{print $3}')"
            r=$((r + 1))
        done
        m=$(median $sl)
        row "churn under valgrind none --track-fds" "ns/call" "$(fmt "$NS_B_churn")" "$(fmt "$m")" "$(fmt "$(calc "$m / $NS_B_churn")" 3)" "-" "$REPS" "-/$(spread $sl)"
    else
        note "peers: valgrind not installed: skipped"
    fi
fi

# ------------------------------------------------------------------ output
echo
awk -F'\t' 'BEGIN {
        f = "%-38s %-7s %10s %13s %7s %15s %4s %9s\n"
        printf f, "case", "unit", "baseline", "with sockleak", "ratio", "added / note", "reps", "spread"
        printf f, "----", "----", "--------", "-------------", "-----", "------------", "----", "------" }
    { printf "%-38s %-7s %10s %13s %7s %15s %4s %9s\n", $1, $2, $3, $4, $5, $6, $7, $8 }' "$ROWS"
echo "(baseline, with sockleak: medians; ratio = with / baseline; added: user-space instructions per"
echo " call from callgrind, or resident bytes per socket; spread: half the range of the timings over"
echo " their median, baseline/with: the noise of this machine at the time of the run)"
if [ -s "$BUDGETS" ]; then
    echo
    printf '%-50s %-8s %s\n' budget status figure
    cat "$BUDGETS"
fi
if [ -s "$NOTES" ]; then
    echo
    echo "notes:"
    sed 's/^/  /' "$NOTES"
fi
if [ -s "$WORK/profile" ]; then
    echo
    cat "$WORK/profile"
fi
exit 0

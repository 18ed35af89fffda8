#!/bin/sh
# sockleak demo: run a leaky server under sockleak, drive a few connections,
# show the report. Run by `make demo` after the build; works from the repo
# root of a fresh clone. Exits 0 when the report shows the expected leak.
# SOCKLEAK_BUILD picks another build folder (build/aarch64: `make
# check-arm64` runs the demo under qemu-user).
set -u

cd "$(dirname "$0")/.." || exit 1

B=${SOCKLEAK_BUILD:-build}
TOOL=$B/sockleak
SERVER=$B/examples/leaky_server
DRIVE=$B/examples/drive
OUT=$B/demo-out
QUITS=2
HANGUPS=3

fail() {
    echo "demo: FAILED: $*" >&2
    exit 1
}

for f in "$TOOL" "$B/libsockleak.so" "$SERVER" "$DRIVE"; do
    [ -x "$f" ] || [ -f "$f" ] || fail "$f is missing: run 'make all examples' first"
done

tmp=$(mktemp -d "${TMPDIR:-/tmp}/sockleak-demo.XXXXXX") || fail "mktemp"
watchdog=
stop_watchdog() {
    [ -n "$watchdog" ] || return 0
    kill "$watchdog" 2>/dev/null
    [ -s "$tmp/watchdog.sleep" ] && kill "$(cat "$tmp/watchdog.sleep")" 2>/dev/null
    watchdog=
}
cleanup() {
    stop_watchdog
    rm -rf "$tmp"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
rm -rf "$OUT"

cat <<MSG
== sockleak demo
Running a leaky server under sockleak:
  $TOOL run --deadline 1000 --output $OUT --error-exitcode 42 -- \\
      $SERVER 0 --max-conns $((QUITS + HANGUPS)) --linger-ms 2000
(--deadline: how long a socket may stay open after end-of-stream, in ms;
--error-exitcode: the status sockleak exits with when it finds a leak.)
The server echoes requests on 127.0.0.1 and closes a connection on "QUIT",
but when a client just hangs up it forgets to close (examples/leaky_server.c,
handle_client). We open $QUITS connections that say QUIT and $HANGUPS that hang up,
so sockleak should find $HANGUPS sockets left in CLOSE_WAIT by one call site.

MSG

# The tool passes the server's stdout through (we read the port from it) and
# prints its report on stderr, straight to this terminal.
"$TOOL" run --deadline 1000 --output "$OUT" --error-exitcode 42 -- \
    "$SERVER" 0 --max-conns $((QUITS + HANGUPS)) --linger-ms 2000 >"$tmp/server.out" &
run_pid=$!
# Nothing here should take more than a few seconds: never hang. The watchdog
# holds none of our output pipes, and its sleep is killed by pid when done.
(
    sleep 30 &
    echo $! >"$tmp/watchdog.sleep"
    wait $! && : >"$tmp/timed-out" && kill -TERM "$run_pid"
) >/dev/null 2>&1 &
watchdog=$!

port=
i=0
while [ $i -lt 100 ]; do
    port=$(sed -n 's/^listening on \([0-9][0-9]*\)$/\1/p' "$tmp/server.out")
    [ -n "$port" ] && break
    kill -0 "$run_pid" 2>/dev/null || break
    sleep 0.1
    i=$((i + 1))
done
if [ -z "$port" ]; then
    kill -TERM "$run_pid" 2>/dev/null
    wait "$run_pid"
    fail "the server did not start (no 'listening on PORT' line); its output: $(cat "$tmp/server.out")"
fi
echo "server listening on port $port; driving $((QUITS + HANGUPS)) connections..."
"$DRIVE" "$port" $QUITS $HANGUPS || echo "demo: warning: the driver saw unexpected replies" >&2
echo "waiting for the deadline (1 s) and the server's exit (2 s linger)..."
echo
wait "$run_pid"
rc=$?
stop_watchdog
[ -e "$tmp/timed-out" ] && fail "sockleak run did not finish within 30 s"

echo
case $rc in
42) ;;
0) fail "sockleak found no leak; expected $HANGUPS sockets in close_wait" ;;
*) fail "sockleak run exited with status $rc (expected 42: leaks found)" ;;
esac

json=$("$TOOL" report --format json "$OUT") || fail "'$TOOL report --format json $OUT' failed"
echo "$json" | grep -Eq '"kind" *: *"close_wait"' ||
    fail "the report has no close_wait finding"
echo "$json" | grep -Eq '"count" *: *'"$HANGUPS"'([^0-9]|$)' ||
    fail "the close_wait finding does not count $HANGUPS sockets"
# The end-of-stream stack names handle_client at its recv (the EOF-SITE
# line): the symbols and lines came through.
line=$(grep -n 'EOF-SITE' examples/leaky_server.c | cut -d: -f1)
"$TOOL" report "$OUT" | grep -Eq "in handle_client .*leaky_server\.c:$line( |\$)" ||
    fail "the report does not name handle_client at examples/leaky_server.c:$line"

cat <<MSG
== How to read the report above
- Each finding is one call site: "close_wait" means the program read
  end-of-stream (the peer closed) and then kept the socket open past the
  deadline, so the kernel left it in CLOSE_WAIT. The count says how many
  sockets leaked from that site ($HANGUPS here, one per client that hung up).
- The first stack is where the program read EOF (handle_client's recv in
  examples/leaky_server.c); the second is where the socket was created (the
  accept4 in main). Fix: close the socket on that EOF path, as
  examples/fixed_server.c does.
- Raw logs (one JSON line per record, one file per process) are in $OUT/.
  Re-read them any time:
      $TOOL report $OUT
      $TOOL report --format json $OUT
demo: OK
MSG
exit 0

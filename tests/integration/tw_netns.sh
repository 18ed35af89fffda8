#!/bin/sh
# Runs "$@" inside the network namespace this shell runs in (start it with
# `unshare -n sh tw_netns.sh CMD...`): loopback up, an ephemeral port range
# of 1,000 ports (40000-40999) and no reuse of loopback TIME_WAIT sockets
# (both sysctls are per namespace), so a test fills a tenth of the range in
# a few hundred connections. Then writes the kernel's counts of TIME_WAIT
# sockets to 127.0.0.1:$TW_PORT and from it (ss) into $TW_COUNT, as
# "to from". Exit status: the command's; 97 when the namespace cannot be
# set up.
set -u
ip link set lo up || exit 97
sysctl -qw net.ipv4.ip_local_port_range="40000 40999" || exit 97
sysctl -qw net.ipv4.tcp_tw_reuse=0 || exit 97
"$@"
rc=$?
to=$(ss -tanH state time-wait dst "127.0.0.1:$TW_PORT" | wc -l)
from=$(ss -tanH state time-wait src "127.0.0.1:$TW_PORT" | wc -l)
echo "$to $from" >"$TW_COUNT"
exit $rc

#!/bin/sh
# Make this machine run another processor's programs through qemu-user:
#   tests/qemu_binfmt.sh ARCH QEMU PROBE
# ARCH is the qemu name (aarch64), QEMU the static emulator
# (qemu-aarch64-static, Debian's qemu-user-static), PROBE a program built for
# ARCH that must run (and exit 0) once binfmt_misc knows the format.
# Registers only what is missing: mounts binfmt_misc, enables a known but
# disabled entry, asks binfmt-support (update-binfmts), and as a last
# resort writes qemu-user-static's own entry to the register file. Root is
# needed for any of those; without it the message says what to run.
set -u
arch=$1 qemu=$2 probe=$3
dir=/proc/sys/fs/binfmt_misc
entry=$dir/qemu-$arch

say() { echo "qemu-binfmt: $*"; }
runs() { "$probe" --version >/dev/null 2>&1; }

runs && { say "$arch programs run here (binfmt_misc qemu-$arch)"; exit 0; }
command -v "$qemu" >/dev/null || { say "$qemu is missing (Debian: qemu-user-static)"; exit 1; }
[ "$(id -u)" = 0 ] || { say "not root: cannot register $arch with binfmt_misc (run this as root once)"; exit 1; }

if [ ! -e "$dir/register" ]; then
    say "mounting binfmt_misc on $dir"
    mount -t binfmt_misc binfmt_misc "$dir" || { say "cannot mount binfmt_misc"; exit 1; }
fi
[ -e "$dir/status" ] && [ "$(cat "$dir/status")" = enabled ] || echo 1 >"$dir/status"
if [ -e "$entry" ] && ! head -1 "$entry" | grep -qx enabled; then
    say "enabling the disabled entry qemu-$arch"
    echo 1 >"$entry"
fi
if ! runs && [ ! -e "$entry" ] && command -v update-binfmts >/dev/null &&
    update-binfmts --display "qemu-$arch" >/dev/null 2>&1; then
    say "update-binfmts --enable qemu-$arch"
    update-binfmts --enable "qemu-$arch" || :
fi
if ! runs && [ ! -e "$entry" ]; then
    # qemu-user-static's description of the format, as binfmt-support has
    # it (/usr/share/binfmts/qemu-$arch): magic, mask, the interpreter,
    # flags F (opened now: works in chroots and other mount namespaces).
    desc=/usr/share/binfmts/qemu-$arch
    [ -r "$desc" ] || { say "no $desc to register from"; exit 1; }
    magic=$(sed -n 's/^magic //p' "$desc")
    mask=$(sed -n 's/^mask //p' "$desc")
    say "registering qemu-$arch through $dir/register"
    printf ':qemu-%s:M::%s:%s:%s:F\n' "$arch" "$magic" "$mask" "$(command -v "$qemu")" \
        >"$dir/register" || { say "the register write failed"; exit 1; }
fi
runs || { say "$probe still does not run: binfmt_misc has no working qemu-$arch entry"; exit 1; }
say "$arch programs run here through $qemu"

# arm64 (aarch64): Debian's multiarch directory (library and header paths the
# dependency probes look at) and the name clang gives its runtimes.
DEB_MULTIARCH := aarch64-linux-gnu
CLANG_RT_ARCH := aarch64
GLIBC_LD_SO   := /lib/ld-linux-aarch64.so.1

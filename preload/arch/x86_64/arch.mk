# x86-64: Debian's multiarch directory (library and header paths the
# dependency probes look at) and the name clang gives its runtimes.
DEB_MULTIARCH := x86_64-linux-gnu
CLANG_RT_ARCH := x86_64
GLIBC_LD_SO   := /lib64/ld-linux-x86-64.so.2

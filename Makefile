# sockleak: one Makefile drives everything. `make help` lists the targets.

PREFIX  ?= /usr/local
DESTDIR ?=
BINDIR  ?= $(PREFIX)/bin
LIBDIR  ?= $(PREFIX)/lib
INCDIR  ?= $(PREFIX)/include
PCDIR   ?= $(LIBDIR)/pkgconfig
MANDIR  ?= $(PREFIX)/share/man
VERSION := 0.1.0

CC      ?= cc
CXX     ?= c++
PYTHON  ?= /usr/bin/python3
B       := build

WARN    := -Wall -Wextra -Werror
CFLAGS  ?= -O2 -g
BASE_CFLAGS := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -Iformat -DSOCKLEAK_VERSION=\"$(VERSION)\"

# The processor: everything specific to it (assembly entry points, raw
# system calls, multiarch paths) is in preload/arch/$(ARCH): x86_64 and
# aarch64. ARCH is the machine's (`uname -m`); `make ARCH=aarch64` on
# another builds for arm64 with Debian's cross compiler into build/aarch64/
# (what `make check-arm64` tests under qemu-user). Another processor stops
# here, naming the folder to write.
HOST_ARCH := $(shell uname -m)
ARCH     := $(HOST_ARCH)
ARCH_DIR := preload/arch/$(ARCH)
ifeq ($(wildcard $(ARCH_DIR)/arch.mk),)
$(error sockleak supports x86_64 and aarch64: $(ARCH_DIR)/ (arch.mk, rawsys.h, syscall.S, vfork.S) does not exist)
endif
include $(ARCH_DIR)/arch.mk
ifneq ($(ARCH),$(HOST_ARCH))
CROSS := $(DEB_MULTIARCH)-
ifneq ($(origin CC),command line)
CC := $(CROSS)gcc
endif
ifneq ($(origin CXX),command line)
CXX := $(CROSS)g++
endif
ifneq ($(origin B),command line)
B := build/$(ARCH)
endif
endif

# Debian packages the build and the tests need, and a header or program that
# proves each one is there.
DEB_PKGS := gcc g++ make pkg-config libunwind-dev libdw-dev libelf-dev uthash-dev \
            libcmocka-dev libjansson-dev python3 python3-pytest elfutils binutils iproute2 \
            valgrind clang libclang-rt-14-dev scdoc groff-base python3-yaml python3.11-dev strace \
            libevent-dev libperl-dev ruby3.1-dev libssl-dev libyaml-dev libcrypt-dev
DEP_PROBES := /usr/include/uthash.h:uthash-dev \
              /usr/include/cmocka.h:libcmocka-dev \
              /usr/include/jansson.h:libjansson-dev \
              /usr/include/openssl/ssl.h:libssl-dev \
              /usr/include/yaml.h:libyaml-dev \
              /usr/include/crypt.h:libcrypt-dev \
              /usr/include/elfutils/libdwfl.h:libdw-dev \
              /usr/include/libelf.h:libelf-dev \
              /usr/lib/$(DEB_MULTIARCH)/libunwind.so.8:libunwind-dev \
              /usr/include/$(DEB_MULTIARCH)/libunwind.h:libunwind-dev \
              /usr/bin/pkg-config:pkg-config \
              /usr/bin/g++:g++ \
              /usr/bin/scdoc:scdoc \
              /usr/bin/python3:python3 \
              /usr/bin/eu-addr2line:elfutils \
              /usr/bin/readelf:binutils \
              /usr/bin/ss:iproute2 \
              /usr/lib/python3/dist-packages/pytest:python3-pytest
# What only `make check` needs beyond the build: valgrind (helgrind), clang
# and its libFuzzer runtime (the fuzzing run), groff and python3-yaml (the
# tests of the man pages and docs/deploy.md), CPython 3.11's headers (the
# Python frames unit test and bench), libperl-dev (the Perl frames unit
# test), CRuby 3.1's (the Ruby frames unit test). `make deps` installs them,
# `make all` does not ask for them.
CHECK_PROBES := /usr/bin/valgrind:valgrind /usr/include/valgrind/helgrind.h:valgrind \
                /usr/include/python3.11/internal/pycore_frame.h:python3.11-dev \
                /usr/lib/$(DEB_MULTIARCH)/libperl.so:libperl-dev \
                /usr/include/$(DEB_MULTIARCH)/ruby-3.1.0/rb_mjit_min_header-3.1.2.h:ruby3.1-dev \
                /usr/bin/clang:clang /usr/bin/groff:groff-base /usr/bin/strace:strace \
                /usr/include/event2/event.h:libevent-dev \
                /usr/lib/python3/dist-packages/yaml:python3-yaml \
                /usr/lib/llvm-14/lib/clang/14.0.6/lib/linux/libclang_rt.fuzzer-$(CLANG_RT_ARCH).a:libclang-rt-14-dev

# ---------------------------------------------------------------- sources
PRELOAD_SRC := $(wildcard preload/*.c)
PRELOAD_OBJ := $(PRELOAD_SRC:%.c=$(B)/%.o)
PRELOAD_ASM := $(wildcard $(ARCH_DIR)/*.S)
PRELOAD_ASM_OBJ := $(PRELOAD_ASM:%.S=$(B)/%.o)
# Everything but the exported hooks and the constructor: what unit tests link.
PRELOAD_LIB_OBJ := $(filter-out $(B)/preload/hooks.o $(B)/preload/init.o,$(PRELOAD_OBJ))
REPORT_SRC  := $(wildcard report/*.c)
REPORT_OBJ  := $(REPORT_SRC:%.c=$(B)/%.o)
REPORT_LIB_OBJ := $(filter-out $(B)/report/main.o,$(REPORT_OBJ))
UNIT_SRC    := $(wildcard tests/unit/test_*.c)
# A cross build has no arm64 CPython, Perl or Ruby to embed: their frames'
# unit tests are the native build's.
ifneq ($(CROSS),)
UNIT_SRC    := $(filter-out tests/unit/test_pyframes.c tests/unit/test_perlframes.c \
                 tests/unit/test_rubyframes.c,$(UNIT_SRC))
endif
UNIT_BIN    := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/unit/%)
PROG_C      := $(wildcard tests/integration/progs/*.c)
PROG_CXX    := $(wildcard tests/integration/progs/*.cc)
# sg_capture single-steps with x86's trap flag: an x86-64 program only.
ifneq ($(ARCH),x86_64)
PROG_C      := $(filter-out tests/integration/progs/sg_capture.c,$(PROG_C))
endif
# libevent-dev is one architecture's at a time (Debian: not Multi-Arch
# same): a cross build leaves its libevent program out.
ifneq ($(CROSS),)
PROG_C      := $(filter-out tests/integration/progs/cs_libevent.c,$(PROG_C))
endif
PROG_BIN    := $(PROG_C:tests/integration/progs/%.c=$(B)/tests/progs/%) \
               $(PROG_CXX:tests/integration/progs/%.cc=$(B)/tests/progs/%)
EXAMPLE_SRC := $(wildcard examples/*.c)
EXAMPLE_BIN := $(EXAMPLE_SRC:examples/%.c=$(B)/examples/%)

LIB  := $(B)/libsockleak.so
# The Node.js preload and its addon (JavaScript call sites): built when
# Node's headers are there (/usr/include/node: Debian's libnode-dev, or
# NodeSource's nodejs, which conflicts with it: `make deps-programs` adds neither).
NODE_API_H := /usr/include/node/node_api.h
NODE_DIR   := $(B)/sockleak-node
NODE_FILES := $(if $(and $(wildcard $(NODE_API_H)),$(if $(CROSS),,y)),$(NODE_DIR)/sockleak-node.js $(NODE_DIR)/sockleak_node.node)
# The JVMTI agent (Java call sites): built when a JDK's headers are there
# (/usr/lib/jvm/*/include/jvmti.h: Debian's openjdk-*-jdk-headless, or
# JDK_INCLUDE=<jdk>/include). Any JDK's headers do: the agent asks for
# JVMTI 1.2, which every JVM since Java 7 gives.
JDK_INCLUDE ?= $(patsubst %/jvmti.h,%,$(firstword $(wildcard /usr/lib/jvm/*/include/jvmti.h)))
JAVA_DIR    := $(B)/sockleak-java
JAVA_FILES  := $(if $(and $(JDK_INCLUDE),$(if $(CROSS),,y)),$(JAVA_DIR)/libsockleak_jvmti.so)
TOOL := $(B)/sockleak
STUB := $(B)/libsockleak-stub.a

PRELOAD_CFLAGS := $(BASE_CFLAGS) $(CFLAGS) -I$(ARCH_DIR) -fPIC -fvisibility=hidden -pthread
PRELOAD_LDLIBS := -ldl -pthread
REPORT_CFLAGS  := $(BASE_CFLAGS) $(CFLAGS) -pthread -DSL_MULTIARCH=\"$(DEB_MULTIARCH)\"
REPORT_LDLIBS  := -ldw -lelf -ljansson -lssl -lcrypto -lyaml -lcrypt -pthread
# Test programs and examples: debug info and no optimisation unless a program
# asks otherwise (see PROG_FLAGS_<name> below), so call sites are exact.
PROG_CFLAGS    := -std=gnu11 $(WARN) -D_GNU_SOURCE -Iinclude -I$(ARCH_DIR) -g -O0 -pthread

.PHONY: all deps deps-programs deps-sarif check-deps demo check check-arm64 deps-arm64 unit integration install uninstall \
        bench clean help progs examples format unit-sanitize lockdebug integration-lockdebug \
        soak-fork helgrind helgrind-lib fuzz fuzz-build
.DEFAULT_GOAL := all

all: check-deps $(LIB) $(TOOL) $(NODE_FILES) $(JAVA_FILES)
ifeq ($(JDK_INCLUDE),)
	@echo "note: no JDK headers (/usr/lib/jvm/*/include/jvmti.h, or JDK_INCLUDE=...):" \
	  "the Java agent is not built, Java findings name no Java frames"
endif

help:
	@echo "make            build $(LIB) and $(TOOL)"
	@echo "make deps       install the Debian packages the build and tests need"
	@echo "make deps-sarif the SARIF validator the tests use (npm, tests/tools/sarif)"
	@echo "make deps-programs  install the real programs (redis, nginx, node...) the tests run"
	@echo "make demo       install what is missing, build, run a leaky server under sockleak"
	@echo "make check      build and run every test (unit, unit under ASan/UBSan, integration,"
	@echo "                the lock-stressing ones again with the lock-order checks on,"
	@echo "                the threaded and forking programs under helgrind, and the"
	@echo "                log reader fuzzed for FUZZ_CHECK_SECONDS, default 60)"
	@echo "make fuzz       fuzz the log reader for FUZZ_SECONDS (default $(FUZZ_SECONDS)) with libFuzzer"
	@echo "make check-arm64  build for arm64 (build/aarch64) and test it under qemu-user"
	@echo "make bench      run the benchmarks"
	@echo "make soak       the stress tests at five times their size, CPython's socket suites"
	@echo "make soak-fork  the fork and signal stress programs 200 times (SOAK_RUNS=N)"
	@echo "make helgrind   the threaded and forking test programs under valgrind's helgrind"
	@echo "make install    install to \$$(DESTDIR)\$$(PREFIX) (PREFIX=$(PREFIX)), man pages included"
	@echo "make uninstall  remove what make install installed (same PREFIX, LIBDIR, ...)"

# Install only what is missing; sudo only when not root.
deps:
	@missing=""; for p in $(DEP_PROBES) $(CHECK_PROBES); do f=$${p%%:*}; pkg=$${p##*:}; \
	  [ -e "$$f" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then \
	  SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	  echo "deps: installing$$missing"; \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  $$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $(DEB_PKGS) \
	    >/dev/null || { echo "deps: apt-get install failed; install by hand: $(DEB_PKGS)"; exit 1; }; \
	else echo "deps: all present"; fi

# Real programs the integration tests run under sockleak when installed
# (each test is skipped, naming its package, when its program is missing).
# prometheus, prometheus-node-exporter: the tests start private ones (own
# config, storage and a free port), whatever the packages' services do.
PROGRAM_PKGS := redis-server redis-tools nginx-light wrk nodejs curl libpython3.11-testsuite \
                python3-urllib3 prometheus prometheus-node-exporter libwww-perl ruby \
                ruby-net-http-persistent libhttpclient-java libpostgresql-jdbc-java postgresql-15
# $(call apt_install_missing,PACKAGES): shell that installs those of the
# Debian PACKAGES dpkg does not have (with sudo unless root), naming the
# target ($@) in what it says. $$SUDO is set for the lines before it.
apt_install_missing = \
	missing=$$(for p in $(1); do dpkg-query -W -f='$${Status}' $$p 2>/dev/null | \
	  grep -q 'install ok installed' || echo $$p; done); \
	if [ -z "$$missing" ]; then echo "$@: all present"; exit 0; fi; \
	echo "$@: installing" $$missing; \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	$$SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing \
	  >/dev/null || { echo "$@: apt-get install failed"; exit 1; }
deps-programs:
	@SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	$(call apt_install_missing,$(PROGRAM_PKGS))

# Test-only: Microsoft's SARIF Multitool (npm, pinned by the committed lock
# file) validates the SARIF report; its tests are skipped when it is missing.
SARIF_DIR := tests/tools/sarif
deps-sarif:
	@command -v npm >/dev/null || { echo "deps-sarif: npm is missing (Debian: npm)"; exit 1; }
	cd $(SARIF_DIR) && npm ci --no-audit --no-fund --loglevel=error

check-deps:
	@missing=""; for p in $(DEP_PROBES); do f=$${p%%:*}; pkg=$${p##*:}; \
	  [ -e "$$f" ] || missing="$$missing $$pkg"; done; \
	if [ -n "$$missing" ]; then echo "missing Debian packages:$$missing (run: make deps)"; exit 1; fi

PRELOAD_H := $(wildcard preload/*.h $(ARCH_DIR)/*.h include/*.h format/*.h)
$(B)/preload/%.o: preload/%.c $(PRELOAD_H) | $(B)/preload
	$(CC) $(PRELOAD_CFLAGS) -c $< -o $@
$(B)/preload/%.o: preload/%.S
	@mkdir -p $(dir $@)
	$(CC) -fPIC -c $< -o $@
$(LIB): $(PRELOAD_OBJ) $(PRELOAD_ASM_OBJ) preload/forked.ld
	$(CC) -shared -o $@ $(PRELOAD_OBJ) $(PRELOAD_ASM_OBJ) -Wl,-T,preload/forked.ld -Wl,-z,defs \
	  -Wl,-soname,libsockleak.so $(PRELOAD_LDLIBS)
$(NODE_DIR)/sockleak_node.node: node/sockleak_node.c $(NODE_API_H) | $(NODE_DIR)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -I$(dir $(NODE_API_H)) -fPIC -shared -fvisibility=hidden \
	  -o $@ $< -ldl
$(NODE_DIR)/sockleak-node.js: node/sockleak-node.js | $(NODE_DIR)
	cp $< $@
$(JAVA_DIR)/libsockleak_jvmti.so: java/sockleak_jvmti.c preload/javaframes.h | $(JAVA_DIR)
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -Ipreload -I$(JDK_INCLUDE) -I$(JDK_INCLUDE)/linux -fPIC -shared \
	  -fvisibility=hidden -o $@ $< -ldl
# The unit tests' copy of the internals, built again with SL_TESTING: the
# test-only entry points (sl_log_forget_fd, the reaper's heap, the stack
# knobs) exist only there, never in $(LIB).
PRELOAD_TEST_OBJ := $(PRELOAD_LIB_OBJ:$(B)/preload/%=$(B)/preload-test/%)
$(B)/preload-test/%.o: preload/%.c $(PRELOAD_H) | $(B)/preload-test
	$(CC) $(PRELOAD_CFLAGS) -DSL_TESTING -c $< -o $@
$(B)/libsl_preload.a: $(PRELOAD_TEST_OBJ)
	rm -f $@ && ar rcs $@ $^

$(B)/report/%.o: report/%.c $(wildcard report/*.h include/*.h format/*.h) | $(B)/report
	$(CC) $(REPORT_CFLAGS) -DSL_LIBDIR=\"$(LIBDIR)\" -c $< -o $@
$(TOOL): $(REPORT_OBJ)
	$(CC) -o $@ $^ $(REPORT_LDLIBS)
$(B)/libsl_report.a: $(REPORT_LIB_OBJ)
	rm -f $@ && ar rcs $@ $^

# Unit tests: one cmocka program per area, linked against the library's and
# the tool's internals (not the exported hooks).
$(B)/tests/unit/%: tests/unit/%.c $(B)/libsl_preload.a $(B)/libsl_report.a | $(B)/tests/unit
	$(CC) $(BASE_CFLAGS) $(CFLAGS) -DSL_TESTING -pthread -Ipreload -I$(ARCH_DIR) -Ireport $(UNIT_FLAGS_$*) $< -o $@ \
	  $(B)/libsl_preload.a $(B)/libsl_report.a -lcmocka $(REPORT_LDLIBS) -ldl $(UNIT_LIBS_$*)
# The Python frames test is built against the installed CPython 3.11.
UNIT_FLAGS_test_pyframes := -I/usr/include/python3.11
UNIT_LIBS_test_pyframes := -lpython3.11
# The Perl frames test embeds the installed perl 5.36 (libperl-dev); its
# headers are system headers, not held to our warnings.
PERL_CORE := /usr/lib/$(DEB_MULTIARCH)/perl/5.36/CORE
UNIT_FLAGS_test_perlframes := -isystem $(PERL_CORE) -D_REENTRANT -D_LARGEFILE_SOURCE \
                              -D_FILE_OFFSET_BITS=64 -fwrapv -fno-strict-aliasing
UNIT_LIBS_test_perlframes := -lperl
# The Ruby frames test is built against the installed CRuby 3.1.
UNIT_FLAGS_test_rubyframes := -isystem /usr/include/ruby-3.1.0 \
                              -isystem /usr/include/$(DEB_MULTIARCH)/ruby-3.1.0 -Wno-unused-function
UNIT_LIBS_test_rubyframes := -lruby-3.1

$(B)/tests/progs/%: tests/integration/progs/%.c | $(B)/tests/progs
	$(CC) $(PROG_CFLAGS) $(PROG_FLAGS_$*) $< -o $@ $(PROG_LDLIBS_$*)
$(B)/tests/progs/%: tests/integration/progs/%.cc | $(B)/tests/progs
	$(CXX) -g -O0 -Wall -Wextra -Werror $(PROG_FLAGS_$*) $< -o $@
$(B)/examples/%: examples/%.c | $(B)/examples
	$(CC) $(PROG_CFLAGS) $< -o $@

# Per-program build flags for test programs.
include tests/integration/progs/flags.mk

progs: $(PROG_BIN)
examples: $(EXAMPLE_BIN)

$(B)/preload $(B)/preload-test $(B)/report $(B)/tests/unit $(B)/tests/progs $(B)/examples $(NODE_DIR) \
$(JAVA_DIR):
	mkdir -p $@

demo: deps
	$(MAKE) all examples
	sh examples/demo.sh

check: deps
	$(MAKE) all progs examples $(UNIT_BIN)
	$(MAKE) deps-sarif || echo "check: no SARIF validator (npm failed); its tests are skipped"
	$(MAKE) unit unit-sanitize integration integration-lockdebug helgrind
	$(MAKE) fuzz FUZZ_SECONDS=$(FUZZ_CHECK_SECONDS) FUZZ_OPTS=-verbosity=0

# The unit tests again, built with AddressSanitizer and UBSan (any report fails).
SAN_FLAGS := -O1 -g -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
unit-sanitize:
	$(MAKE) B=$(B)/sanitize CFLAGS="$(SAN_FLAGS)" unit

unit: $(UNIT_BIN)
	@fail=0; for t in $(UNIT_BIN); do echo "== $$t"; $$t || fail=1; done; exit $$fail

integration: all progs examples
	SOCKLEAK_BUILD=$(abspath $(B)) $(PYTHON) -m pytest -q -p no:cacheprovider tests/integration

# The library again with its lock checks on (SL_LOCK_DEBUG: every lock taken
# in the order of preload/locks.h and inside the re-entry guard, or abort
# naming both locks); the tests that stress locks, signals and forks run
# against it.
LOCKDEBUG_LIB := $(B)/lockdebug/libsockleak.so
lockdebug:
	$(MAKE) B=$(B)/lockdebug CFLAGS="$(CFLAGS) -DSL_LOCK_DEBUG" $(LOCKDEBUG_LIB)

integration-lockdebug: all progs lockdebug
	SOCKLEAK_BUILD=$(abspath $(B)) SOCKLEAK_LIBRARY=$(abspath $(LOCKDEBUG_LIB)) \
	  $(PYTHON) -m pytest -q -p no:cacheprovider -k "not cpython" \
	  tests/integration/test_signals.py tests/integration/test_stress.py \
	  tests/integration/test_lifecycle.py tests/integration/test_positives.py \
	  tests/integration/test_fds.py tests/integration/test_fd_exhaustion.py

# The fork and signal stress programs SOAK_RUNS times in a row, each under a
# time limit: one hang or crash fails the loop.
SOAK_RUNS ?= 200
soak-fork: all progs lockdebug
	sh tests/soak_fork.sh $(SOAK_RUNS) $(abspath $(B))

# The library again with its locks and atomics annotated for helgrind
# (SL_VALGRIND, preload/hg.h), and the threaded, forking and signal test
# programs and the example server under helgrind against it: any report
# fails (known benign ones, each with its reason, in tests/helgrind.supp).
HELGRIND_LIB := $(B)/helgrind/libsockleak.so
helgrind-lib:
	$(MAKE) B=$(B)/helgrind CFLAGS="$(CFLAGS) -DSL_VALGRIND" $(HELGRIND_LIB)

helgrind: all progs examples helgrind-lib
	sh tests/helgrind.sh $(abspath $(B)) $(abspath $(HELGRIND_LIB))

# arm64 from this x86-64 machine: Debian's cross compiler and arm64 -dev
# packages build build/aarch64/, qemu-user runs it (binfmt_misc, registered
# by tests/qemu_binfmt.sh). Run: the unit tests, the demo (its report must
# name handle_client at its leaky_server.c line), and every integration
# test; the logs of each processor are also reported by the other's sockleak
# (test_cross_arch.py). What qemu-user cannot do is skipped, each test with
# its reason (tests/integration/qemu_skips.txt, shown by -rs): the kernel
# sweep and the census (qemu-user has no NETLINK_SOCK_DIAG), this machine's
# interpreters, servers and shells (x86-64), the run's wait for descendants
# (no PR_SET_CHILD_SUBREAPER), and a few of qemu's own threads, signals and
# system calls; valgrind, helgrind and perf are left out (no such tools for
# a foreign processor).
ARM64_PKGS := gcc-aarch64-linux-gnu g++-aarch64-linux-gnu qemu-user-static binfmt-support \
              libc6-dev:arm64 libunwind-dev:arm64 libdw-dev:arm64 libelf-dev:arm64 \
              libjansson-dev:arm64 libcmocka-dev:arm64 libssl-dev:arm64 libyaml-dev:arm64 \
              libcrypt-dev:arm64 libstdc++6:arm64 libasan8:arm64
deps-arm64:
	@SUDO=; [ "$$(id -u)" = 0 ] || SUDO=sudo; \
	dpkg --print-foreign-architectures | grep -qx arm64 || \
	  { echo "deps-arm64: dpkg --add-architecture arm64"; $$SUDO dpkg --add-architecture arm64; }; \
	$(call apt_install_missing,$(ARM64_PKGS))

check-arm64: deps deps-arm64
	$(MAKE) all progs
	$(MAKE) ARCH=aarch64 all progs examples
	sh tests/qemu_binfmt.sh aarch64 qemu-aarch64-static build/aarch64/sockleak
	$(MAKE) ARCH=aarch64 unit
	SOCKLEAK_BUILD=build/aarch64 sh examples/demo.sh
	SOCKLEAK_BUILD=$(abspath build/aarch64) SOCKLEAK_OTHER_BUILD=$(abspath build) \
	  $(PYTHON) -m pytest -q -rs -p no:cacheprovider tests/integration

# Fuzzing the log reader (libFuzzer, clang): the report code again with
# ASan, UBSan and coverage, a target that feeds it one log per input, the
# seeds in tests/fuzz/corpus (new inputs go to build/fuzz/corpus), crashes to
# build/fuzz/crash-*. `make check` runs it for FUZZ_CHECK_SECONDS.
FUZZ_CC      ?= clang
FUZZ_SECONDS ?= 60
FUZZ_CHECK_SECONDS ?= 60
FUZZ_B       := $(B)/fuzz
FUZZ_BIN     := $(FUZZ_B)/fuzz_logread
FUZZ_FLAGS   := -O1 -g -fsanitize=address,undefined -fno-sanitize-recover=all \
                -fno-omit-frame-pointer
# Extra libFuzzer flags, e.g. FUZZ_OPTS=-jobs=2.
FUZZ_OPTS    ?=
fuzz-build: $(FUZZ_BIN)
$(FUZZ_BIN): tests/fuzz/fuzz_logread.c $(REPORT_SRC) $(wildcard report/*.h include/*.h format/*.h)
	$(MAKE) B=$(FUZZ_B) CC=$(FUZZ_CC) CFLAGS="$(FUZZ_FLAGS) -fsanitize=fuzzer-no-link" \
	  $(FUZZ_B)/libsl_report.a
	$(FUZZ_CC) $(BASE_CFLAGS) $(FUZZ_FLAGS) -fsanitize=fuzzer -Ireport $< -o $@ \
	  $(FUZZ_B)/libsl_report.a $(REPORT_LDLIBS) -ldl
# -close_fd_mask=2: the reader's warnings would drown libFuzzer's own lines
# (which, like sanitizer reports, still print).
fuzz: $(FUZZ_BIN)
	mkdir -p $(FUZZ_B)/corpus
	ASAN_OPTIONS=detect_leaks=1 $(FUZZ_BIN) -max_total_time=$(FUZZ_SECONDS) -max_len=16384 \
	  -timeout=20 -rss_limit_mb=2048 -close_fd_mask=2 -print_final_stats=1 \
	  -artifact_prefix=$(FUZZ_B)/ $(FUZZ_OPTS) $(FUZZ_B)/corpus tests/fuzz/corpus

# Benchmark programs: optimised like the programs they stand for.
BENCH_BIN := $(B)/bench/micro $(B)/bench/mem $(B)/bench/idle $(B)/bench/pycapture \
             $(B)/bench/rbcapture $(B)/bench/plcapture
bench: all $(BENCH_BIN) $(filter %/sg_capture,$(PROG_BIN))
	sh bench/run.sh
$(B)/bench/%: bench/%.c | $(B)/bench
	$(CC) -std=gnu11 $(WARN) -D_GNU_SOURCE -O2 -g $< -o $@
# One stack capture, native and under Python frames: the library's internals
# and the installed CPython 3.11.
$(B)/bench/pycapture: bench/pycapture.c bench/capture.h $(B)/libsl_preload.a | $(B)/bench
	$(CC) $(BASE_CFLAGS) -O2 -g -pthread -Ipreload -I/usr/include/python3.11 $< -o $@ \
	  $(B)/libsl_preload.a -lpython3.11 -ldl
# The same under Ruby frames: the installed CRuby 3.1.
$(B)/bench/rbcapture: bench/rbcapture.c bench/capture.h $(B)/libsl_preload.a | $(B)/bench
	$(CC) $(BASE_CFLAGS) -O2 -g -pthread -Ipreload -isystem /usr/include/ruby-3.1.0 \
	  -isystem /usr/include/$(DEB_MULTIARCH)/ruby-3.1.0 $< -o $@ $(B)/libsl_preload.a -lruby-3.1 -ldl
# The same under Perl frames: the installed perl 5.36 (libperl-dev).
$(B)/bench/plcapture: bench/plcapture.c bench/capture.h $(B)/libsl_preload.a | $(B)/bench
	$(CC) $(BASE_CFLAGS) -O2 -g -pthread -Ipreload -isystem $(PERL_CORE) -D_REENTRANT \
	  -D_LARGEFILE_SOURCE -D_FILE_OFFSET_BITS=64 -fwrapv -fno-strict-aliasing $< -o $@ \
	  $(B)/libsl_preload.a -lperl -ldl -lm -lcrypt
$(B)/bench:
	mkdir -p $@

install: all
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(LIBDIR) $(DESTDIR)$(INCDIR) $(DESTDIR)$(PCDIR)
	install -m 755 $(TOOL) $(DESTDIR)$(BINDIR)/sockleak
	install -m 755 $(LIB) $(DESTDIR)$(LIBDIR)/libsockleak.so
	install -m 644 include/sockleak.h $(DESTDIR)$(INCDIR)/sockleak.h
	$(if $(NODE_FILES),install -d $(DESTDIR)$(LIBDIR)/sockleak-node && \
	  install -m 644 $(NODE_FILES) $(DESTDIR)$(LIBDIR)/sockleak-node/)
	$(if $(JAVA_FILES),install -d $(DESTDIR)$(LIBDIR)/sockleak-java && \
	  install -m 644 $(JAVA_FILES) $(DESTDIR)$(LIBDIR)/sockleak-java/)
	sed -e 's|@PREFIX@|$(PREFIX)|; s|@LIBDIR@|$(LIBDIR)|; s|@INCDIR@|$(INCDIR)|; s|@VERSION@|$(VERSION)|' \
	  sockleak.pc.in > $(DESTDIR)$(PCDIR)/sockleak.pc

uninstall:
	rm -rf $(DESTDIR)$(LIBDIR)/sockleak-node $(DESTDIR)$(LIBDIR)/sockleak-java
	rm -f $(DESTDIR)$(BINDIR)/sockleak $(DESTDIR)$(LIBDIR)/libsockleak.so \
	  $(DESTDIR)$(INCDIR)/sockleak.h $(DESTDIR)$(PCDIR)/sockleak.pc

# Paths baked into the build: the tool's fallback library directory
# (-DSL_LIBDIR) and the man pages. The stamp is rewritten only when they
# change, so `make install PREFIX=... LIBDIR=...` after a plain `make`
# rebuilds what holds the old path instead of installing it.
PATHS_STAMP := $(B)/paths.stamp
$(PATHS_STAMP): FORCE
	@mkdir -p $(@D); v='LIBDIR=$(LIBDIR)'; \
	[ "$$(cat $@ 2>/dev/null)" = "$$v" ] || printf '%s\n' "$$v" > $@
$(REPORT_OBJ): $(PATHS_STAMP)
.PHONY: FORCE
FORCE:

# Man pages: docs/NAME.SECTION.scd, scdoc's source format.
MAN_SRC   := $(wildcard docs/*.scd)
MAN_PAGES := $(MAN_SRC:docs/%.scd=$(B)/man/%)
all: $(MAN_PAGES)
$(B)/man/%: docs/%.scd $(PATHS_STAMP)
	@mkdir -p $(@D)
	sed -e 's|@LIBDIR@|$(LIBDIR)|g' $< | scdoc > $@.tmp && mv $@.tmp $@

.PHONY: install-man uninstall-man
install: install-man
install-man: $(MAN_PAGES)
	install -d $(DESTDIR)$(MANDIR)/man1 $(DESTDIR)$(MANDIR)/man3
	for p in $(MAN_PAGES); do install -m 644 $$p $(DESTDIR)$(MANDIR)/man$${p##*.}/; done
uninstall: uninstall-man
uninstall-man:
	for p in $(notdir $(MAN_PAGES)); do rm -f $(DESTDIR)$(MANDIR)/man$${p##*.}/$$p; done

format:
	clang-format -i preload/*.[ch] report/*.[ch] include/*.h format/*.h tests/unit/*.c

clean:
	rm -rf $(B) sockleak-out

# The slow checks: the stress tests at five times their size and CPython's
# socket test suites with and without the library (also part of `make
# integration` when libpython3.11-testsuite is installed).
.PHONY: soak
soak: all progs
	SOCKLEAK_BUILD=$(abspath $(B)) SOCKLEAK_STRESS_SCALE=5 $(PYTHON) -m pytest -q \
	  -p no:cacheprovider -k "not cpython" tests/integration/test_stress.py \
	  tests/integration/test_errno.py
	PYTHON=$(PYTHON) sh tests/cpython_suite.sh $(abspath $(LIB))

# Extra flags for single test programs: PROG_FLAGS_<name> := ...

# Fortified reads: read() becomes __read_chk (see pos_fortify_read.c).
PROG_FLAGS_pos_fortify_read := -O2 -D_FORTIFY_SOURCE=2

# The C programs share prog.h: rebuild them when it changes.
$(PROG_C:tests/integration/progs/%.c=$(B)/tests/progs/%): tests/integration/progs/prog.h

# The in-process API example is a cmocka test.
PROG_LDLIBS_api_teardown := -lcmocka
PROG_LDLIBS_api_marks := -lcmocka

# Every wrapper's return value and errno; fortified so the _chk reads are in.
PROG_FLAGS_st_errno := -O2 -D_FORTIFY_SOURCE=2

# lc_ctor links a library whose constructor uses sockets before sockleak's
# own constructor runs; lc_dlopen loads one at run time; lc_forkfds links
# one that registers a fork handler before sockleak's (it uses no symbol of
# it, hence --no-as-needed). Each library is
# built from its program's source with -DLC_LIB, next to the program.
$(B)/tests/progs/lc_%_lib.so: tests/integration/progs/lc_%.c tests/integration/progs/prog.h | $(B)/tests/progs
	$(CC) $(PROG_CFLAGS) -DLC_LIB -shared -fPIC $< -o $@
$(B)/tests/progs/lc_ctor: $(B)/tests/progs/lc_ctor_lib.so
PROG_LDLIBS_lc_ctor := -L$(B)/tests/progs -l:lc_ctor_lib.so -Wl,-rpath,'$$ORIGIN'
$(B)/tests/progs/lc_dlopen: $(B)/tests/progs/lc_dlopen_lib.so
$(B)/tests/progs/lc_forkfds: $(B)/tests/progs/lc_forkfds_lib.so
PROG_LDLIBS_lc_forkfds := -Wl,--no-as-needed -L$(B)/tests/progs -l:lc_forkfds_lib.so -Wl,-rpath,'$$ORIGIN'
PROG_LDLIBS_lc_dlopen := -ldl

# test_run_watch.py: programs `sockleak run` cannot watch, or must preload
# something else for. A static program; a program built with ASan.
PROG_FLAGS_rw_static := -static
PROG_FLAGS_rw_asan_client := -fsanitize=address -fno-omit-frame-pointer
# rw_gofake: an empty .go.buildinfo section marks it as a Go binary.
$(B)/tests/progs/rw_gofake: tests/integration/progs/rw_gofake.c tests/integration/progs/rw_exit.c | $(B)/tests/progs
	$(CC) $(PROG_CFLAGS) $< -o $@.tmp
	printf '\377 Go buildinf:' > $@.buildinfo
	$(CROSS)objcopy --add-section .go.buildinfo=$@.buildinfo --set-section-flags .go.buildinfo=alloc,readonly $@.tmp $@
	rm -f $@.tmp $@.buildinfo
# rw_muslfake: its interpreter is named like musl's loader (a link to glibc's).
$(B)/tests/progs/ld-musl-$(ARCH).so.1: | $(B)/tests/progs
	ln -sf $$(readlink -f $(GLIBC_LD_SO)) $@
$(B)/tests/progs/rw_muslfake: $(B)/tests/progs/ld-musl-$(ARCH).so.1 tests/integration/progs/rw_exit.c
PROG_LDLIBS_rw_muslfake := -Wl,--dynamic-linker=$(abspath $(B))/tests/progs/ld-musl-$(ARCH).so.1

# A library of C signal handlers doing socket work, which the Python program
# tests/integration/progs/py/signals.py loads with ctypes.
$(B)/tests/progs/py_sigsock.so: tests/integration/progs/py/sigsock.c | $(B)/tests/progs
	$(CC) $(PROG_CFLAGS) -shared -fPIC $< -o $@
progs: $(B)/tests/progs/py_sigsock.so
PROG_LDLIBS_cs_libevent := -levent

# Extra flags for single test programs: PROG_FLAGS_<name> := ...

# Fortified reads: read() becomes __read_chk (see pos_fortify_read.c).
PROG_FLAGS_pos_fortify_read := -O2 -D_FORTIFY_SOURCE=2

# The C programs share prog.h: rebuild them when it changes.
$(PROG_C:tests/integration/progs/%.c=$(B)/tests/progs/%): tests/integration/progs/prog.h

# The in-process API example is a cmocka test.
PROG_LDLIBS_api_teardown := -lcmocka

# Every wrapper's return value and errno; fortified so the _chk reads are in.
PROG_FLAGS_st_errno := -O2 -D_FORTIFY_SOURCE=2

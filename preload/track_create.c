/* Creation: socket, socketpair, accept, connect. A new fd's slot is
 * installed with what it is (a tracked stream socket or not) and where it
 * was made; an fd we never saw made is classified at its first use. */
#include <errno.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include "churn.h"
#include "fdexh.h"
#include "fdtable.h"
#include "log.h"
#include "reaper.h"
#include "real.h"
#include "stack.h"
#include "sweep.h"
#include "track.h"
#include "track_int.h"

/* A tracked stream socket classified by its first use (sl_slot_class). */
void sl_track_classified(const struct sl_class *c)
{
    atomic_fetch_add_explicit(&sl_count_sockets, 1, memory_order_relaxed);
    if (c->flags & SL_F_INET) {
        if (c->domain == AF_INET6)
            sl_sweep_note_inet6();
        sl_sweep_arm();
    }
}

/* Install a fresh object at fd with classification c. Counts tracked sockets. */
static void sl_track_install(int fd, const struct sl_class *c)
{
    struct sl_slot *s = c->flags ? sl_fdtable_get(fd) : sl_fdtable_peek(fd);
    if (!s)
        return;
    sl_slot_install(fd, s, c);
    if ((c->flags & (SL_F_STREAM | SL_F_NOTSOCK)) == SL_F_STREAM)
        atomic_fetch_add_explicit(&sl_count_sockets, 1, memory_order_relaxed);
}

/* New fds from socket/socketpair/accept: drop stale state, track streams.
 * Inside our own code (our own sockets, or a signal handler that interrupted
 * it on this thread) nothing is recorded: a stale slot left at that number
 * is caught by the inode check before any finding. */
static void sl_track_created(const int *fds, int n, struct sl_class c, int nonblock)
{
    if (sl_in_lib)
        return;
    int g = sl_guard_enter();
    c.flags &= SL_CLASS_BITS;
    if (c.flags & SL_F_SOCKET)
        c.flags |= SL_F_NBSET | (nonblock ? SL_F_NONBLOCK : 0);
    if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK)) == SL_F_STREAM) {
        sl_init_all();
        c.open_stack = sl_stack_capture();
        c.open_ns = sl_coarse_ns();
    }
    /* No inode yet: it is taken when first needed (end-of-stream, the
     * sweep), so a connection costs no system call of ours before then. */
    c.inode = 0;
    for (int i = 0; i < n; i++)
        sl_track_install(fds[i], &c);
    if ((c.flags & (SL_F_INET | SL_F_NOTSOCK)) == SL_F_INET) {
        if (c.domain == AF_INET6)
            sl_sweep_note_inet6();
        sl_sweep_arm();
    }
    sl_guard_leave(g);
}

int sl_socket(int domain, int type, int proto)
{
    SL_ENSURE(socket);
    int r = sl_real.socket(domain, type, proto);
    if (r >= 0) {
        int e = errno;
        sl_track_created(&r, 1, sl_class_for(domain, type), (type & SOCK_NONBLOCK) != 0);
        errno = e;
    } else {
        SL_FDEXH_ON_FAIL("socket");
    }
    return r;
}

int sl_socketpair(int domain, int type, int proto, int sv[2])
{
    SL_ENSURE(socketpair);
    int r = sl_real.socketpair(domain, type, proto, sv);
    if (r == 0) {
        int e = errno;
        sl_track_created(sv, 2, sl_class_for(domain, type), (type & SOCK_NONBLOCK) != 0);
        errno = e;
    } else {
        SL_FDEXH_ON_FAIL("socketpair");
    }
    return r;
}

/* An accepted socket has the listener's domain and type. */
static void sl_track_accepted(int lfd, int fd, int nonblock)
{
    struct sl_class c = {0};
    if (sl_in_lib)
        return;
    struct sl_slot *ls = sl_fdtable_get(lfd);
    uint32_t gen;
    if (ls) {
        int g = sl_guard_enter();
        sl_init_all();
        sl_track_class(lfd, ls, &c, &gen, 0);
        sl_guard_leave(g);
    }
    c.flags = (c.flags & SL_F_SOCKET) ? sl_class_for(c.domain, c.type).flags : 0;
    c.inode = 0;
    c.open_ns = 0;
    c.listen_stack = c.open_stack;
    c.open_stack = 0;
    sl_track_created(&fd, 1, c, nonblock);
    if (!nonblock && SL_SCHED_ACTIVE())
        sl_block_watch(); /* the program may read it blocking */
}

int sl_accept(int fd, struct sockaddr *sa, socklen_t *len)
{
    SL_ENSURE(accept);
    if (SL_SCHED_ACTIVE() && !sl_in_lib && !sl_in_vfork_child())
        sl_track_before_accept(fd, 0);
    int r = sl_real.accept(fd, sa, len);
    if (r >= 0) {
        int e = errno;
        sl_track_accepted(fd, r, 0);
        errno = e;
    } else {
        SL_FDEXH_ON_FAIL("accept");
    }
    return r;
}

int sl_accept4(int fd, struct sockaddr *sa, socklen_t *len, int flags)
{
    SL_ENSURE(accept4);
    if (SL_SCHED_ACTIVE() && !sl_in_lib && !sl_in_vfork_child())
        sl_track_before_accept(fd, flags);
    int r = sl_real.accept4(fd, sa, len, flags);
    if (r >= 0) {
        int e = errno;
        sl_track_accepted(fd, r, (flags & SOCK_NONBLOCK) != 0);
        errno = e;
    } else {
        SL_FDEXH_ON_FAIL("accept4");
    }
    return r;
}

/* A TCP connect failed with EADDRNOTAVAIL: no ephemeral port was left. */
static void sl_track_no_port(int fd, const struct sockaddr *sa, socklen_t len)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    if (!s || sl_in_vfork_child())
        return;
    int g = sl_guard_enter();
    sl_init_all();
    struct sl_class c;
    uint32_t gen;
    sl_track_class(fd, s, &c, &gen, 0);
    if ((c.flags & (SL_F_INET | SL_F_NOTSOCK)) == SL_F_INET)
        sl_churn_exhausted(sl_stack_capture(), sa, len);
    sl_guard_leave(g);
}

/* connect names the code that made the connection: refresh open_stack. A
 * TCP connection is counted for its (call site, destination) (churn.h). */
int sl_connect(int fd, const struct sockaddr *sa, socklen_t len)
{
    SL_ENSURE(connect);
    if (SL_SCHED_ACTIVE() && !sl_in_lib)
        sl_track_before_block(fd);
    int r = sl_real.connect(fd, sa, len);
    int e = errno;
    if ((r == 0 || e == EINPROGRESS) && !sl_in_lib) {
        struct sl_slot *s = sl_fdtable_get(fd);
        if (s) {
            int g = sl_guard_enter();
            sl_init_all();
            struct sl_class c;
            uint32_t gen;
            sl_track_class(fd, s, &c, &gen, 0);
            if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK | SL_F_EOF)) == SL_F_STREAM) {
                uint32_t stack = sl_stack_capture();
                sl_slot_set_open_stack(fd, s, gen, stack);
                if (c.flags & SL_F_INET)
                    sl_churn_connected(stack, sa, len);
            }
            sl_guard_leave(g);
        }
    } else if (SL_UNLIKELY(r < 0 && e == EADDRNOTAVAIL) && !sl_in_lib) {
        sl_track_no_port(fd, sa, len);
    }
    errno = e;
    return r;
}

int sl_track_open_stack(int fd, uint32_t *stack, uint32_t *gen)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    if (!s)
        return 0;
    struct sl_class c;
    sl_track_class(fd, s, &c, gen, 1);
    if ((c.flags & (SL_F_STREAM | SL_F_NOTSOCK)) != SL_F_STREAM)
        return 0;
    *stack = c.open_stack;
    return 1;
}

void sl_track_set_open_stack(int fd, uint32_t gen, uint32_t stack)
{
    struct sl_slot *s = sl_fdtable_get(fd);
    if (s)
        sl_slot_set_open_stack(fd, s, gen, stack);
}

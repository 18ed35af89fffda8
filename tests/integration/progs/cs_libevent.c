/* A libevent server that frees its bufferevents without closing their
 * sockets (made without BEV_OPT_CLOSE_ON_FREE): the end-of-stream read is
 * libevent's, inside event_base_dispatch in main; the accept, where the fix
 * goes, is in the callback.
 *
 * Prints "listening on PORT"; the driver makes CONNS connections and hangs
 * each up; then main holds them until the test releases it (SIGUSR2, once
 * ss showed them and their findings are logged) and exits. */
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include "prog.h"

static struct event_base *base;
static long conns, closed;

static void read_cb(struct bufferevent *bev, void *arg)
{
    (void)arg;
    evbuffer_drain(bufferevent_get_input(bev), evbuffer_get_length(bufferevent_get_input(bev)));
}

static void event_cb(struct bufferevent *bev, short what, void *arg)
{
    (void)arg;
    if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) {
        bufferevent_free(bev); /* the bug: no BEV_OPT_CLOSE_ON_FREE, fd stays open */
        if (++closed == conns)
            event_base_loopexit(base, NULL);
    }
}

static void accept_conn_cb(evutil_socket_t lfd, short what, void *arg)
{
    (void)what;
    (void)arg;
    int fd = accept(lfd, NULL, NULL); /* OPEN-SITE */
    if (fd < 0)
        return;
    evutil_make_socket_nonblocking(fd);
    struct bufferevent *bev = bufferevent_socket_new(base, fd, 0);
    bufferevent_setcb(bev, read_cb, NULL, event_cb, NULL);
    bufferevent_enable(bev, EV_READ);
}

int main(int argc, char **argv)
{
    conns = arg_long(argc, argv, 1, 3);
    int port;
    int lfd = listen_loopback(&port);
    base = event_base_new();
    if (!base)
        die("event_base_new");
    struct event *ev = event_new(base, lfd, EV_READ | EV_PERSIST, accept_conn_cb, NULL);
    event_add(ev, NULL);
    hold_prepare();
    announce_port(port);
    event_base_dispatch(base); /* LOOP-SITE */
    event_free(ev);
    event_base_free(base);
    hold_until_released(HOLD_LIMIT_MS);
    printf("served %ld\n", conns);
    return 0;
}

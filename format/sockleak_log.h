/* sockleak raw log format, version 1: the one definition shared by the writer
 * (preload/log.c) and the readers (report/logread.c, which serve, follow and
 * report use). Not installed: the format is the tool's own.
 *
 * One file per process, <output>/<program>.<pid>.jsonl, opened O_APPEND.
 * One JSON object per line, each line written with a single write(2), so
 * whatever was written survives a crash or SIGKILL. A file may hold several
 * processes in a row (pid reuse): every "header" starts a new process and the
 * records after it belong to it. The reader ignores a truncated last line (with
 * a warning) and unknown record types (with a warning), never the whole file.
 *
 * Every record has "t" (its type). Times: *_unix_ms are wall-clock
 * milliseconds since the epoch; *_ms durations are milliseconds.
 *
 * header   {"t":"header","version":1,"pid":4242,"ppid":1,"program":"server",
 *           "exe":"/usr/bin/server","argv":["server","-p","80"],
 *           "start_unix_ms":1764000000000,"run_id":"abc","deadline_ms":5000,
 *           "frames":32}
 *          run_id is "" unless SOCKLEAK_OPTIONS had run_id= (sockleak run
 *          sets it, to report only the processes of its own run).
 *          "suppressions": an absolute path, present only when
 *          SOCKLEAK_OPTIONS had suppressions=; the reader applies the file
 *          to this process's findings only, and only when the log file is
 *          owned by the reader or root.
 *
 * module   {"t":"module","id":0,"path":"/usr/bin/server",
 *           "build_id":"3f2a...","base":140737351...}
 *          Written once, before the first record whose stacks name it. "id"
 *          is what stack frames refer to; "base" is the load bias (dlpi_addr);
 *          build_id is lowercase hex, "" when the module has none.
 *
 * frame    {"t":"frame","id":3,"lang":"python","function":"handle",
 *           "file":"/srv/app.py","line":12}
 *          A frame of the program's own language ("python", "javascript",
 *          "java"), written once, before the first record whose stacks name
 *          it. In a stack it stands as [-2, id], in the place of the native
 *          frames that ran it (for Python, the interpreter's evaluation loop).
 *          line 0: unknown. ids count from 1 per process. The reader shows
 *          an id without its record as an unknown frame.
 *
 * finding  {"t":"finding","id":1,"kind":"close_wait","fd":7,"family":"inet",
 *           "local":"127.0.0.1:8080","peer":"127.0.0.1:53122","inode":123,
 *           "tcp_state":"CLOSE_WAIT","eof_unix_ms":1764000001000,
 *           "held_ms":5003,"eof_stack":[[0,6699],[0,7000]],
 *           "open_stack":[[0,6656]]}
 *          kind: "close_wait" or "unclosed_after_shutdown".
 *          family: "inet", "inet6", "unix" or "other". local/peer: "" when
 *          unknown; unix sockets give the path or "" (abstract: "@name").
 *          tcp_state: the kernel's state name at the deadline (TCP_INFO),
 *          or null when the kernel cannot tell (unix sockets).
 *          held_ms: time from the later of EOF and the last send to when
 *          the finding was written. Stacks: frames as [module id, offset],
 *          offset = pc - module base; frame 0 is the return address in the
 *          program's caller of the intercepted function, so the reader
 *          looks up offset - 1 for every frame. A stack may be [] when
 *          unknown (socket inherited or created before the library loaded).
 *
 *          Kinds the kernel tells (a sock_diag sweep of CLOSE_WAIT sockets,
 *          no end-of-stream read needed) use the same record, with
 *          eof_unix_ms 0, eof_stack [] and these keys as they apply:
 *          "close_wait_unread": in CLOSE_WAIT past the deadline, no
 *            end-of-stream read seen in this process. "last_read_stack":
 *            where the program last read from it: the whole stack (language
 *            frames included) as captured the first time the socket was
 *            read from that place (the caller of the read: for a language
 *            runtime, its native function that reads, so a Python socket's
 *            is its first recv's); only the caller of the read, one frame,
 *            when that stack was not captured (no unwinder, or a socket
 *            read from more than 8 places in turn); [] when it never read.
 *            "idle_ms": time
 *            since data last moved either way (the kernel's
 *            tcpi_last_data_recv/sent), "unread_bytes": bytes waiting in
 *            the receive queue.
 *          "close_wait_inherited": the copy is held by this process, which
 *            got it through fork; "from_pid": the process that forked it,
 *            "fork_stack": where fork was called; open_stack: where the
 *            parent made the socket.
 *          "close_wait_unaccepted": connections closed by their peer while
 *            waiting in the accept queue of a listener of this process (fd,
 *            local: the listener's); "sockets": how many (default 1 for
 *            every other record), "listen_stack": where the listener was
 *            made, "backlog": the listener's backlog, "queued": its accept
 *            queue length.
 *          "double_close": close (or dup2/dup3 from it) failed with EBADF
 *            on the number of a socket this process closed before, nothing
 *            seen there since. fd: that number; local/peer "", inode 0,
 *            tcp_state null, held_ms 0, eof_unix_ms: when it was written;
 *            "close_stack": the failing call, "first_close_stack": the
 *            earlier close; eof_stack and open_stack [].
 *          "time_wait_churn": a connect call site (open_stack) whose
 *            connections to one destination left more TIME_WAIT sockets
 *            than churn_share percent of the ephemeral port range. fd -1,
 *            local/peer "", inode 0, tcp_state "TIME_WAIT", held_ms 0,
 *            eof_unix_ms: when it was written, eof_stack []; then
 *            "destination":"10.0.0.7:5432" ("[v6]:port" for IPv6),
 *            "connections": connects this site made to it, "rate_per_s":
 *            their highest rate over 60-second windows (a number with one
 *            decimal), "time_wait_peak": the most TIME_WAIT sockets to the
 *            destination the kernel counted (sock_diag), at most the
 *            site's connections of the window, "port_range":[low,high]
 *            ([0,0] unknown). A connect that failed with EADDRNOTAVAIL is
 *            one too, with "exhausted":true, open_stack the failing
 *            connect, time_wait_peak the kernel's count to its destination
 *            then, and "top_sites":[{"open_stack":[...],"destination":"..",
 *            "connections":N,"time_wait":N},...]: the connect call sites
 *            holding the most ports, largest first (at most 4).
 *          "open_at_exit": with at_exit=all, a stream socket the process
 *            still held when it exited, whatever its state: fd, family,
 *            local, peer, inode and tcp_state (null for unix sockets) as
 *            the kernel gave them at exit, held_ms 0, eof_unix_ms: when it
 *            was written, eof_stack [], open_stack where it was made
 *            (listen_stack: an accepted socket's listener), "at_exit":true.
 *            At most 8 findings per creation stack and state: the 8th has
 *            "sockets" for itself and the rest.
 *          "fd_exhaustion": a call that makes an fd (socket, socketpair,
 *            accept, accept4, dup, fcntl F_DUPFD, pipe2) failed with EMFILE
 *            or ENFILE, the first of an episode: the episode ends when a
 *            later look (the due work) counts at most three quarters of
 *            the limit open, and the next failure starts another. fd -1,
 *            family "other", local/peer "", inode 0, tcp_state null,
 *            held_ms 0, eof_unix_ms: when it was written, eof_stack [] and
 *            open_stack []; then "fail_stack": the failing call,
 *            "call":"accept4" (its name), "errno":"EMFILE" or "ENFILE",
 *            "limit": the soft RLIMIT_NOFILE then, "open_fds": the fds
 *            open then below the limit (-1 unknown), and "holders":
 *            [{"open_stack":[...],"count":61,"states":{"ESTABLISHED":61},
 *            "oldest_ms":4000},...]: the process's tracked stream sockets
 *            (TCP and unix) grouped by where they were made, largest first
 *            (at most 8); states counts the TCP ones by the kernel's state
 *            (TCP_INFO) then; oldest_ms: the age of the oldest, -1 when
 *            none was seen made.
 *          Any kind may carry "at_exit":true: reported when the process
 *          exited (at_exit=1 or all) rather than at its deadline. Accepted sockets
 *          may carry "listen_stack" too (the listener they came from).
 *
 * closed   {"t":"closed","id":1,"fd":7,"held_ms":8000}
 *          A reported socket was closed late; held_ms from EOF to close.
 *
 * update   {"t":"update","id":3,"connections":9000,"rate_per_s":150.0,
 *           "time_wait_peak":8800}
 *          A time_wait_churn finding's counts as they are now (its peak
 *          grew, or the process exits): they replace the finding's.
 *
 * open     {"t":"open","sockets":7,"fd_limit":1024,"sites":[{"open_stack":
 *           [[0,6656]],"states":{"ESTABLISHED":5,"CLOSE_WAIT":2}}]}
 *          The open-socket census: the TCP sockets the process holds now
 *          ("sockets", all of them), per creation stack (at most 16 sites,
 *          those holding the most, largest first) and kernel state name
 *          ("UNKNOWN": the kernel could not tell); fd_limit: the
 *          RLIMIT_NOFILE soft limit, -1 unlimited. Written by the due work
 *          at most every 4 sweep periods (10 s by default), only when it
 *          changed, into a file that exists already; the latest one of a
 *          running process is what it holds.
 *
 * counts   {"t":"counts","sockets":1100,"eof_seen":850}
 *          The same counts as the footer's, so far: written after a kernel
 *          sweep when they changed, into a file that exists already. A log
 *          without its footer (the process was killed) reads them as a
 *          lower bound.
 *
 * footer   {"t":"footer","sockets":1200,"eof_seen":900,"findings":7,
 *           "end_unix_ms":1764000009000}
 *          Written at normal exit. sockets: stream sockets tracked;
 *          eof_seen: of those, how many read end-of-stream.
 *          When records could not be written (a full disk, a write error;
 *          the log stays open and every later record tries again), the
 *          footer adds "lost":N (records not written), "lost_errno":28 (the
 *          last error) and "lost_error":"ENOSPC" (its name): the counts of
 *          the file are then a lower bound. A record that failed midway is
 *          cut off again, so every line stays whole.
 */
#ifndef SOCKLEAK_LOG_H
#define SOCKLEAK_LOG_H

#define SL_LOG_VERSION 1
#define SL_LOG_SUFFIX ".jsonl"

#define SL_REC_HEADER "header"
#define SL_REC_MODULE "module"
#define SL_REC_FRAME "frame"
#define SL_REC_FINDING "finding"
#define SL_REC_CLOSED "closed"
#define SL_REC_FOOTER "footer"
#define SL_REC_COUNTS "counts"
#define SL_REC_UPDATE "update"
#define SL_REC_OPEN "open"

#define SL_KIND_CLOSE_WAIT "close_wait"
#define SL_KIND_UNCLOSED_AFTER_SHUTDOWN "unclosed_after_shutdown"
#define SL_KIND_CLOSE_WAIT_UNREAD "close_wait_unread"
#define SL_KIND_CLOSE_WAIT_INHERITED "close_wait_inherited"
#define SL_KIND_CLOSE_WAIT_UNACCEPTED "close_wait_unaccepted"
#define SL_KIND_DOUBLE_CLOSE "double_close"
#define SL_KIND_TIME_WAIT_CHURN "time_wait_churn"
#define SL_KIND_OPEN_AT_EXIT "open_at_exit"
#define SL_KIND_FD_EXHAUSTION "fd_exhaustion"

/* The keys, each spelt once. Both sides name a key through these macros,
 * never as a literal, so a misspelt key is a compile error: SL_KEY(PID) is
 * "pid", SL_JKEY(PID) is "\"pid\":" (for the writer's format strings). */
#define SL_KEY(name) SL_KEY_##name
#define SL_JKEY(name) "\"" SL_KEY_##name "\":"

/* Every record. */
#define SL_KEY_T "t"
/* header */
#define SL_KEY_VERSION "version"
#define SL_KEY_PID "pid"
#define SL_KEY_PPID "ppid"
#define SL_KEY_PROGRAM "program"
#define SL_KEY_EXE "exe"
#define SL_KEY_ARGV "argv"
#define SL_KEY_START_UNIX_MS "start_unix_ms"
#define SL_KEY_RUN_ID "run_id"
#define SL_KEY_SUPPRESSIONS "suppressions"
#define SL_KEY_DEADLINE_MS "deadline_ms"
#define SL_KEY_FRAMES "frames"
/* module, frame, finding, closed: the record's id */
#define SL_KEY_ID "id"
/* module */
#define SL_KEY_PATH "path"
#define SL_KEY_BUILD_ID "build_id"
#define SL_KEY_BASE "base"
/* frame */
#define SL_KEY_LANG "lang"
#define SL_KEY_FUNCTION "function"
#define SL_KEY_FILE "file"
#define SL_KEY_LINE "line"
/* finding (fd and held_ms: closed too) */
#define SL_KEY_KIND "kind"
#define SL_KEY_FD "fd"
#define SL_KEY_FAMILY "family"
#define SL_KEY_LOCAL "local"
#define SL_KEY_PEER "peer"
#define SL_KEY_INODE "inode"
#define SL_KEY_TCP_STATE "tcp_state"
#define SL_KEY_EOF_UNIX_MS "eof_unix_ms"
#define SL_KEY_HELD_MS "held_ms"
#define SL_KEY_EOF_STACK "eof_stack"
#define SL_KEY_OPEN_STACK "open_stack"
#define SL_KEY_LAST_READ_STACK "last_read_stack"
#define SL_KEY_FORK_STACK "fork_stack"
#define SL_KEY_LISTEN_STACK "listen_stack"
#define SL_KEY_CLOSE_STACK "close_stack"
#define SL_KEY_FIRST_CLOSE_STACK "first_close_stack"
#define SL_KEY_IDLE_MS "idle_ms"
#define SL_KEY_UNREAD_BYTES "unread_bytes"
#define SL_KEY_FROM_PID "from_pid"
#define SL_KEY_SOCKETS "sockets" /* footer too */
#define SL_KEY_BACKLOG "backlog"
#define SL_KEY_QUEUED "queued"
#define SL_KEY_AT_EXIT "at_exit"
#define SL_KEY_DESTINATION "destination"
#define SL_KEY_CONNECTIONS "connections" /* update too */
#define SL_KEY_RATE_PER_S "rate_per_s"   /* update too */
#define SL_KEY_TIME_WAIT_PEAK "time_wait_peak" /* update too */
#define SL_KEY_PORT_RANGE "port_range"
#define SL_KEY_EXHAUSTED "exhausted"
#define SL_KEY_TOP_SITES "top_sites"
#define SL_KEY_TIME_WAIT "time_wait"
/* open */
#define SL_KEY_FD_LIMIT "fd_limit"
#define SL_KEY_SITES "sites"
#define SL_KEY_STATES "states"
/* fd_exhaustion */
#define SL_KEY_FAIL_STACK "fail_stack"
#define SL_KEY_CALL "call"
#define SL_KEY_ERRNO "errno"
#define SL_KEY_LIMIT "limit"
#define SL_KEY_OPEN_FDS "open_fds"
#define SL_KEY_HOLDERS "holders"
#define SL_KEY_COUNT "count"
#define SL_KEY_OLDEST_MS "oldest_ms"
/* footer */
#define SL_KEY_EOF_SEEN "eof_seen"
#define SL_KEY_FINDINGS "findings"
#define SL_KEY_END_UNIX_MS "end_unix_ms"
#define SL_KEY_LOST "lost"
#define SL_KEY_LOST_ERRNO "lost_errno"
#define SL_KEY_LOST_ERROR "lost_error"

/* Longest line the writer produces; the reader accepts lines up to this. */
#define SL_LOG_MAX_LINE 65536

#endif

// C++ exceptions under the preload: libsockleak.so loads libunwind, whose
// exported `backtrace` and `_Unwind_*` would take over the program's exception
// unwinding if they reached the global scope. This program throws and catches
// in every way that touches the unwinder, around recv() calls that read
// end-of-stream (so the library captures a stack each time), on the main
// thread and on worker threads, and prints only deterministic results. Run
// with and without the library: the output must be identical and exit 0.
#include <dlfcn.h>
#include <execinfo.h>
#include <sys/socket.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cerrno>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

namespace {

const int kRounds = 2000;
const int kThreads = 4;

struct Eof : std::runtime_error {
    explicit Eof(int fd) : std::runtime_error("eof on fd " + std::to_string(fd)) {}
};

std::atomic<long> destructors{0};

struct Guard { // unwinding must run every destructor on the way out
    ~Guard() { destructors.fetch_add(1, std::memory_order_relaxed); }
};

// Read from a socket whose peer already closed: recv returns 0 (the library
// captures the stack here), then throw through a few frames with cleanups.
__attribute__((noinline)) void read_to_eof(int fd)
{
    Guard g;
    char buf[64];
    ssize_t n = recv(fd, buf, sizeof buf, 0);
    if (n == 0)
        throw Eof(fd);
    if (n < 0)
        throw std::system_error(errno, std::generic_category(), "recv");
    throw std::logic_error("data where none was sent");
}

__attribute__((noinline)) void middle(int fd, int depth)
{
    Guard g;
    if (depth > 0)
        middle(fd, depth - 1);
    else
        read_to_eof(fd);
}

// One round: a socketpair whose peer is closed, an Eof thrown from 5 frames
// down, caught, rethrown, nested, and carried in an exception_ptr.
long one_round(int round)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        throw std::system_error(errno, std::generic_category(), "socketpair");
    close(sv[1]);
    long score = 0;
    std::exception_ptr saved;
    try {
        try {
            middle(sv[0], 4);
        } catch (const Eof &) {
            score += 1;
            throw; // rethrow the same object
        }
    } catch (const std::runtime_error &e) {
        if (std::strncmp(e.what(), "eof on fd ", 10) == 0)
            score += 10;
        saved = std::current_exception();
    }
    try {
        std::rethrow_exception(saved);
    } catch (const Eof &) {
        score += 100;
    }
    try {
        try {
            throw std::out_of_range("inner");
        } catch (...) {
            std::throw_with_nested(std::runtime_error("outer"));
        }
    } catch (const std::runtime_error &e) {
        try {
            std::rethrow_if_nested(e);
        } catch (const std::out_of_range &) {
            score += 1000;
        }
    }
    try { // a catch(...) of a non-class type
        throw round;
    } catch (int r) {
        if (r == round)
            score += 10000;
    }
    close(sv[0]); // closed promptly: no finding expected
    return score;
}

long run(int rounds)
{
    long total = 0;
    for (int i = 0; i < rounds; i++)
        total += one_round(i);
    return total;
}

} // namespace

int main()
{
    // libunwind must stay out of the global scope.
    bool unw_visible = dlsym(RTLD_DEFAULT, "unw_backtrace") != nullptr;
    std::printf("unw_backtrace visible: %s\n", unw_visible ? "yes" : "no");

    long total = run(kRounds);
    std::printf("main thread: %d rounds, score %ld\n", kRounds, total);

    std::vector<long> scores(kThreads);
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; t++)
        threads.emplace_back([t, &scores] { scores[t] = run(kRounds / kThreads); });
    for (auto &th : threads)
        th.join();
    long tsum = 0;
    for (long s : scores)
        tsum += s;
    std::printf("threads: %d x %d rounds, score %ld\n", kThreads, kRounds / kThreads, tsum);

    // An exception escaping a thread's function is caught by its wrapper here.
    std::exception_ptr from_thread;
    std::thread([&from_thread] {
        try {
            one_round(0);
            throw std::runtime_error("from thread");
        } catch (...) {
            from_thread = std::current_exception();
        }
    }).join();
    try {
        std::rethrow_exception(from_thread);
    } catch (const std::runtime_error &e) {
        std::printf("caught across threads: %s\n", e.what());
    }

    // glibc's backtrace() must still be glibc's (libgcc_s based) and work.
    void *frames[16];
    int n = backtrace(frames, 16);
    std::printf("glibc backtrace: %s\n", n >= 2 ? "ok" : "broken");

    long want_round = 1 + 10 + 100 + 1000 + 10000;
    bool ok = total == want_round * kRounds && tsum == want_round * kRounds &&
              destructors.load() == 6L * (2 * kRounds + 1) && !unw_visible && n >= 2;
    std::printf("destructors run: %ld\n", destructors.load());
    std::printf("%s\n", ok ? "OK" : "FAILED");
    return ok ? 0 : 1;
}

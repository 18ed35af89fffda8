/* Raw system calls for x86-64. The library cannot call glibc's syscall():
 * that is its own hook (syscall.S). Everything specific to the processor
 * is in this folder; the Makefile picks it by `uname -m`. */
#ifndef SL_RAWSYS_H
#define SL_RAWSYS_H

#include <gnu/libc-version.h>
#include <stdint.h>

/* syscall(nr, a0, a1, a2, a3) straight to the kernel: the result, or
 * -errno (errno is not set). */
static inline long sl_raw_syscall4(long nr, long a0, long a1, long a2, long a3)
{
    long r;
    register long r10 __asm__("r10") = a3;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10)
                     : "rcx", "r11", "memory");
    return r;
}

/* The same with six arguments. */
static inline long sl_raw_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    long r;
    register long r10 __asm__("r10") = a3;
    register long r8 __asm__("r8") = a4;
    register long r9 __asm__("r9") = a5;
    __asm__ volatile("syscall"
                     : "=a"(r)
                     : "0"(nr), "D"(a0), "S"(a1), "d"(a2), "r"(r10), "r"(r8), "r"(r9)
                     : "rcx", "r11", "memory");
    return r;
}

/* A system call on an fd with n (at most five) more arguments, for a
 * caller that needs them again after it: it reads them back from the
 * registers that carried them (the kernel keeps them), so that the caller
 * saves none of its own. The fd goes as the int it is, as libc passes it
 * (the kernel reads the low half); the registers past the n arguments are
 * left as they are (the kernel reads no more than the call takes). */
static inline long sl_raw_syscall_fd_kept(long nr, int *fd, int n, long a[5])
{
    long r;
    register long r10 __asm__("r10");
    register long r8 __asm__("r8");
    register long r9 __asm__("r9");
    __asm__("" : "=r"(r10), "=r"(r8), "=r"(r9)); /* whatever they hold */
    if (n > 2)
        r10 = a[2];
    if (n > 3)
        r8 = a[3];
    if (n > 4)
        r9 = a[4];
    __asm__ volatile("syscall"
                     : "=a"(r), "+D"(*fd), "+S"(a[0]), "+d"(a[1]), "+r"(r10), "+r"(r8), "+r"(r9)
                     : "0"(nr)
                     : "rcx", "r11", "memory");
    a[2] = r10;
    a[3] = r8;
    a[4] = r9;
    return r;
}

/* The interrupted instruction's address in a signal handler's ucontext_t. */
#define SL_UCONTEXT_PC(uc) ((uintptr_t)(uc)->uc_mcontext.gregs[REG_RIP])

/* The signal return trampoline (mov $15,%rax; syscall): glibc's
 * __restore_rt, or a sanitizer's; a signal frame returns into it. */
#define SL_SIGRETURN_CODE                                                                          \
    {                                                                                              \
        0x48, 0xc7, 0xc0, 0x0f, 0x00, 0x00, 0x00, 0x0f, 0x05                                       \
    }
#define SL_SIGRETURN_IN_LIBC 1
/* An address inside the object whose code holds the trampoline: libc
 * (gnu_get_libc_version, which no sanitizer wraps). */
#define SL_SIGRETURN_HOME() ((uintptr_t)&gnu_get_libc_version)

/* Is off (a static thread-local's address minus the thread pointer) in the
 * static TLS block? It lies just below the thread pointer (variant II). */
#define SL_STATIC_TLS_OFF(off) ((off) < 0 && (off) >= -(1L << 20))

#endif

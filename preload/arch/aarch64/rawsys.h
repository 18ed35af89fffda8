/* Raw system calls for arm64. The library cannot call glibc's syscall():
 * that is its own hook (syscall.S). Everything specific to the processor
 * is in this folder; the Makefile picks it by `uname -m` or ARCH. */
#ifndef SL_RAWSYS_H
#define SL_RAWSYS_H

#include <stdint.h>
#include <sys/auxv.h>

/* syscall(nr, a0, a1, a2, a3) straight to the kernel: the result, or
 * -errno (errno is not set). */
static inline long sl_raw_syscall4(long nr, long a0, long a1, long a2, long a3)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a0;
    register long x1 __asm__("x1") = a1;
    register long x2 __asm__("x2") = a2;
    register long x3 __asm__("x3") = a3;
    __asm__ volatile("svc #0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    return x0;
}

/* The same with six arguments. */
static inline long sl_raw_syscall6(long nr, long a0, long a1, long a2, long a3, long a4, long a5)
{
    register long x8 __asm__("x8") = nr;
    register long x0 __asm__("x0") = a0;
    register long x1 __asm__("x1") = a1;
    register long x2 __asm__("x2") = a2;
    register long x3 __asm__("x3") = a3;
    register long x4 __asm__("x4") = a4;
    register long x5 __asm__("x5") = a5;
    __asm__ volatile("svc #0"
                     : "+r"(x0)
                     : "r"(x8), "r"(x1), "r"(x2), "r"(x3), "r"(x4), "r"(x5)
                     : "memory");
    return x0;
}

/* A system call on an fd with n (at most five) more arguments, for a
 * caller that needs them again after it (on x86-64, read back from the
 * registers that carried them); here they are simply left as they were. */
static inline long sl_raw_syscall_fd_kept(long nr, int *fd, int n, long a[5])
{
    (void)n;
    return sl_raw_syscall6(nr, *fd, a[0], a[1], a[2], a[3], a[4]);
}

/* The interrupted instruction's address in a signal handler's ucontext_t. */
#define SL_UCONTEXT_PC(uc) ((uintptr_t)(uc)->uc_mcontext.pc)

/* The signal return trampoline (mov x8, #139; svc #0): the kernel's, in the
 * vDSO (qemu-user's in a page of its own); glibc has none, so a search of
 * libc's code finds none. */
#define SL_SIGRETURN_CODE                                                                          \
    {                                                                                              \
        0x68, 0x11, 0x80, 0xd2, 0x01, 0x00, 0x00, 0xd4                                             \
    }
#define SL_SIGRETURN_IN_LIBC 0
/* An address inside the object whose code holds the trampoline: the vDSO
 * (under qemu-user, whose page is no object, nothing is found). */
#define SL_SIGRETURN_HOME() ((uintptr_t)getauxval(AT_SYSINFO_EHDR))

/* Is off (a static thread-local's address minus the thread pointer) in the
 * static TLS block? It lies above the thread pointer, after its 16-byte
 * header (variant I). */
#define SL_STATIC_TLS_OFF(off) ((off) >= 16 && (off) < (1L << 20))

#endif

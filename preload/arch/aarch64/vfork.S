/* The exported vfork(): glibc's own code (clone with CLONE_VM, CLONE_VFORK
 * and SIGCHLD on the caller's stack; the return address stays in x30), with
 * this thread's sl_vfork_child flag set around it. The child shares the
 * parent's memory, this thread's TLS included, and runs until it execs or
 * exits while the parent's thread waits: it sees the flag set, so its close,
 * dup2 and close_range leave the parent's fd table alone (see
 * sl_in_vfork_child); the parent, once it resumes, puts the flag back as it
 * was (nested vforks). Other threads have their own flag. No stack is used:
 * the old flag and its address stay in registers, which the kernel gives
 * back to the parent as they were. */
        .text
        .globl  vfork
        .type   vfork, %function
        .globl  __vfork
        .type   __vfork, %function
        .hidden sl_vfork_child
        .hidden sl_vfork_failed
        .p2align 4
vfork:
__vfork:
        .cfi_startproc
        mrs     x9, tpidr_el0
        adrp    x10, :gottprel:sl_vfork_child
        ldr     x10, [x10, :gottprel_lo12:sl_vfork_child]
        add     x9, x9, x10             /* &sl_vfork_child */
        ldr     w11, [x9]               /* the flag as it was */
        mov     w12, #1
        str     w12, [x9]
        mov     x0, #0x4111             /* CLONE_VM | CLONE_VFORK | SIGCHLD */
        mov     x1, sp
        mov     x8, #220                /* SYS_clone */
        svc     #0
        cbz     x0, 1f                  /* the child: the flag stays set */
        str     w11, [x9]
        cmn     x0, #4095
        b.cs    2f
1:      ret
2:      b       sl_vfork_failed         /* errno = -x0, returns -1 */
        .cfi_endproc
        .size   vfork, .-vfork
        .size   __vfork, .-__vfork

        .section .note.GNU-stack,"",%progbits

/* The exported syscall(): only SYS_close, and SYS_write on libunwind's
 * emulated validation pipe (sl_syscall_slow), are ours; clone and clone3
 * (arm64 has no fork or vfork system call) only set sl_raw_clones on their
 * way. Every other number jumps to the real syscall() with the caller's
 * registers and stack untouched (x16 and x17 are the intra-procedure-call
 * scratch registers a veneer may use anyway), so clone through syscall()
 * behaves exactly as without us. */
        .text
        .globl  syscall
        .type   syscall, %function
        .hidden sl_real_syscall
        .hidden sl_syscall_close
        .hidden sl_syscall_slow
        .hidden sl_raw_clones
        .p2align 4
syscall:
        .cfi_startproc
        cmp     x0, #57                 /* SYS_close: fd in x1 */
        b.eq    1f
        cmp     x0, #64                 /* SYS_write: libunwind's validation */
        b.eq    2f
        cmp     x0, #220                /* SYS_clone */
        b.eq    4f
        cmp     x0, #435                /* SYS_clone3 */
        b.eq    4f
3:
        adrp    x16, sl_real_syscall
        ldr     x16, [x16, :lo12:sl_real_syscall]
        cbz     x16, 2f
        br      x16
1:      b       sl_syscall_close
2:      b       sl_syscall_slow         /* not bound yet: bind, then call */
        /* A process made behind vfork()'s back: from now on a vfork child
         * is told by its pid (sl_in_vfork_child). Arguments untouched. */
4:      adrp    x16, sl_raw_clones
        mov     w17, #1
        str     w17, [x16, :lo12:sl_raw_clones]
        b       3b
        .cfi_endproc
        .size   syscall, .-syscall

        .section .note.GNU-stack,"",%progbits

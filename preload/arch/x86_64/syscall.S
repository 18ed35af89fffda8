/* The exported syscall(): only SYS_close, and SYS_write on libunwind's
 * emulated validation pipe (sl_syscall_slow), are ours; clone, fork and
 * vfork numbers only set sl_raw_clones on their way. Every other number jumps to
 * the real syscall() with the caller's registers and stack untouched, so
 * clone, vfork and fork through syscall() behave exactly as without us. */
        .text
        .globl  syscall
        .type   syscall, @function
        .hidden sl_real_syscall
        .hidden sl_syscall_close
        .hidden sl_syscall_slow
        .hidden sl_raw_clones
        .p2align 4
syscall:
        .cfi_startproc
        cmpq    $3, %rdi                /* SYS_close: fd in %rsi */
        je      1f
        cmpq    $1, %rdi                /* SYS_write: libunwind's validation */
        je      2f
        cmpq    $56, %rdi               /* SYS_clone, SYS_fork, SYS_vfork */
        jb      3f
        cmpq    $58, %rdi
        jbe     4f
        cmpq    $435, %rdi              /* SYS_clone3 */
        je      4f
3:
        movq    sl_real_syscall(%rip), %r11
        testq   %r11, %r11
        jz      2f
        jmp     *%r11
1:      jmp     sl_syscall_close
2:      jmp     sl_syscall_slow         /* not bound yet: bind, then call */
        /* A process made behind vfork()'s back: from now on a vfork child
         * is told by its pid (sl_in_vfork_child). Registers untouched. */
4:      movl    $1, sl_raw_clones(%rip)
        jmp     3b
        .cfi_endproc
        .size   syscall, .-syscall

        .section .note.GNU-stack,"",@progbits

/* The exported syscall(): only SYS_close, and SYS_write on libunwind's
 * emulated validation pipe (sl_syscall_slow), are ours. Every other number jumps to
 * the real syscall() with the caller's registers and stack untouched, so
 * clone, vfork and fork through syscall() behave exactly as without us. */
        .text
        .globl  syscall
        .type   syscall, @function
        .hidden sl_real_syscall
        .hidden sl_syscall_close
        .hidden sl_syscall_slow
        .p2align 4
syscall:
        .cfi_startproc
        cmpq    $3, %rdi                /* SYS_close: fd in %rsi */
        je      1f
        cmpq    $1, %rdi                /* SYS_write: libunwind's validation */
        je      2f
        movq    sl_real_syscall(%rip), %r11
        testq   %r11, %r11
        jz      2f
        jmp     *%r11
1:      jmp     sl_syscall_close
2:      jmp     sl_syscall_slow         /* not bound yet: bind, then call */
        .cfi_endproc
        .size   syscall, .-syscall

        .section .note.GNU-stack,"",@progbits

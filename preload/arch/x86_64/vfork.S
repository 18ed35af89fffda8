/* The exported vfork(): glibc's own code (pop the return address, the raw
 * system call, push it back), with this thread's sl_vfork_child flag set
 * around it. The child shares the parent's memory, this thread's TLS
 * included, and runs until it execs or exits while the parent's thread
 * waits: it sees the flag set, so its close, dup2 and close_range leave the
 * parent's fd table alone (see sl_in_vfork_child); the parent, once it
 * resumes, puts the flag back as it was (nested vforks). Other threads have
 * their own flag. No stack is used between the pop and the push. */
        .text
        .globl  vfork
        .type   vfork, @function
        .globl  __vfork
        .type   __vfork, @function
        .hidden sl_vfork_child
        .hidden sl_vfork_failed
        .p2align 4
vfork:
__vfork:
        .cfi_startproc
        movq    sl_vfork_child@gottpoff(%rip), %rcx
        movl    %fs:(%rcx), %esi        /* the flag as it was: kept in a register */
        movl    $1, %fs:(%rcx)
        popq    %rdi
        .cfi_adjust_cfa_offset -8
        .cfi_register %rip, %rdi
        movl    $58, %eax               /* SYS_vfork */
        syscall
        pushq   %rdi
        .cfi_adjust_cfa_offset 8
        .cfi_rel_offset %rip, 0
        testq   %rax, %rax
        jz      1f                      /* the child: the flag stays set */
        movq    sl_vfork_child@gottpoff(%rip), %rcx
        movl    %esi, %fs:(%rcx)
        cmpq    $-4095, %rax
        jae     2f
1:      ret
2:      movq    %rax, %rdi
        jmp     sl_vfork_failed         /* errno = -%rdi, returns -1 */
        .cfi_endproc
        .size   vfork, .-vfork
        .size   __vfork, .-__vfork

        .section .note.GNU-stack,"",@progbits

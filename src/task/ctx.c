/* Context switch: see ctx.h. The assembly follows each ABI's list of
 * callee-saved registers; everything else the C caller of sw__ctx_swap
 * already assumes clobbered by a call. */
#include "task/ctx.h"

#include <stdint.h>
#include <string.h>

#ifdef SW__CTX_ASM

/* Saves the callee-saved registers on the running stack and its sp into
 * *save_sp, loads load_sp and returns into what it saved (assembly, below);
 * sw__ctx_entry starts a fresh context's function. */
void sw__ctx_switch(void **save_sp, void *load_sp);
void sw__ctx_entry(void);

void sw__ctx_swap(sw__ctx *from, sw__ctx *to)
{
    sw__ctx_switch(&from->sp, to->sp);
}

#endif

#if defined(__x86_64__)

/* Frame on a saved stack, from sp up: mxcsr and the x87 control word (8
 * bytes), r15, r14, r13, r12, rbx, rbp, the return address. */

__asm__(".text\n"
        ".p2align 4\n"
        ".globl sw__ctx_switch\n"
        ".hidden sw__ctx_switch\n"
        ".type sw__ctx_switch,@function\n"
        "sw__ctx_switch:\n"
        "    pushq %rbp\n"
        "    pushq %rbx\n"
        "    pushq %r12\n"
        "    pushq %r13\n"
        "    pushq %r14\n"
        "    pushq %r15\n"
        "    subq $8, %rsp\n"
        "    stmxcsr (%rsp)\n"
        "    fnstcw 4(%rsp)\n"
        "    movq %rsp, (%rdi)\n"
        "    movq %rsi, %rsp\n"
        "    ldmxcsr (%rsp)\n"
        "    fldcw 4(%rsp)\n"
        "    addq $8, %rsp\n"
        "    popq %r15\n"
        "    popq %r14\n"
        "    popq %r13\n"
        "    popq %r12\n"
        "    popq %rbx\n"
        "    popq %rbp\n"
        "    ret\n"
        ".size sw__ctx_switch, .-sw__ctx_switch\n"
        /* First entry: fn in r12, its argument in r13; rsp is 16-aligned
         * here, as a call needs. fn never returns. */
        ".p2align 4\n"
        ".globl sw__ctx_entry\n"
        ".hidden sw__ctx_entry\n"
        ".type sw__ctx_entry,@function\n"
        "sw__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined rip\n" /* the outermost frame: debuggers stop here */
        "    xorl %ebp, %ebp\n"
        "    movq %r13, %rdi\n"
        "    callq *%r12\n"
        "    ud2\n"
        "    .cfi_endproc\n"
        ".size sw__ctx_entry, .-sw__ctx_entry\n");

void sw__ctx_make(sw__ctx *ctx, void *lo, size_t size, sw__ctx_fn fn, void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)top - 8;
    uint32_t ctl[2] = {0x1F80, 0x037F}; /* the ABI's initial mxcsr and x87 control word */
    memcpy(&sp[0], ctl, sizeof ctl);
    sp[1] = 0;                        /* r15 */
    sp[2] = 0;                        /* r14 */
    sp[3] = (uint64_t)(uintptr_t)arg; /* r13 */
    sp[4] = (uint64_t)(uintptr_t)fn;  /* r12 */
    sp[5] = 0;                        /* rbx */
    sp[6] = 0;                        /* rbp */
    sp[7] = (uint64_t)(uintptr_t)sw__ctx_entry;
    ctx->sp = sp; /* after the ret, rsp = top: 16-aligned */
}

#elif defined(__aarch64__)

/* Frame on a saved stack, from sp up: x19..x28, x29 (fp), x30 (lr), d8..d15,
 * fpcr, 8 bytes of padding: 176 bytes, since sp must stay 16-aligned (a
 * load or store through a misaligned sp faults; QEMU does not check).
 * Checked under qemu-aarch64 (registers, FPCR, FP results across yields),
 * 2026-12-05. */

__asm__(".text\n"
        ".p2align 4\n"
        ".globl sw__ctx_switch\n"
        ".hidden sw__ctx_switch\n"
        ".type sw__ctx_switch,%function\n"
        "sw__ctx_switch:\n"
        "    sub sp, sp, #176\n"
        "    stp x19, x20, [sp, #0]\n"
        "    stp x21, x22, [sp, #16]\n"
        "    stp x23, x24, [sp, #32]\n"
        "    stp x25, x26, [sp, #48]\n"
        "    stp x27, x28, [sp, #64]\n"
        "    stp x29, x30, [sp, #80]\n"
        "    stp d8, d9, [sp, #96]\n"
        "    stp d10, d11, [sp, #112]\n"
        "    stp d12, d13, [sp, #128]\n"
        "    stp d14, d15, [sp, #144]\n"
        "    mrs x9, fpcr\n"
        "    str x9, [sp, #160]\n"
        "    mov x9, sp\n"
        "    str x9, [x0]\n"
        "    mov sp, x1\n"
        "    ldp x19, x20, [sp, #0]\n"
        "    ldp x21, x22, [sp, #16]\n"
        "    ldp x23, x24, [sp, #32]\n"
        "    ldp x25, x26, [sp, #48]\n"
        "    ldp x27, x28, [sp, #64]\n"
        "    ldp x29, x30, [sp, #80]\n"
        "    ldp d8, d9, [sp, #96]\n"
        "    ldp d10, d11, [sp, #112]\n"
        "    ldp d12, d13, [sp, #128]\n"
        "    ldp d14, d15, [sp, #144]\n"
        "    ldr x9, [sp, #160]\n"
        "    msr fpcr, x9\n"
        "    add sp, sp, #176\n"
        "    ret\n"
        ".size sw__ctx_switch, .-sw__ctx_switch\n"
        /* First entry: fn in x19, its argument in x20. fn never returns. */
        ".p2align 4\n"
        ".globl sw__ctx_entry\n"
        ".hidden sw__ctx_entry\n"
        ".type sw__ctx_entry,%function\n"
        "sw__ctx_entry:\n"
        "    .cfi_startproc\n"
        "    .cfi_undefined x30\n" /* the outermost frame: debuggers stop here */
        "    mov x29, #0\n"
        "    mov x0, x20\n"
        "    blr x19\n"
        "    brk #0\n"
        "    .cfi_endproc\n"
        ".size sw__ctx_entry, .-sw__ctx_entry\n");

void sw__ctx_make(sw__ctx *ctx, void *lo, size_t size, sw__ctx_fn fn, void *arg)
{
    uintptr_t top = ((uintptr_t)lo + size) & ~(uintptr_t)15;
    uint64_t *sp = (uint64_t *)(top - 176);
    memset(sp, 0, 176);
    sp[0] = (uint64_t)(uintptr_t)fn;             /* x19 */
    sp[1] = (uint64_t)(uintptr_t)arg;            /* x20 */
    sp[11] = (uint64_t)(uintptr_t)sw__ctx_entry; /* x30: where ret goes */
    ctx->sp = sp;                                /* fpcr 0: the ABI's default */
}

#else

/* makecontext passes int arguments only: the pointer goes in two halves. */
static void ctx_entry(unsigned hi, unsigned lo, unsigned fhi, unsigned flo)
{
    void *arg = (void *)(((uintptr_t)hi << 16 << 16) | lo);
    sw__ctx_fn fn = (sw__ctx_fn)(((uintptr_t)fhi << 16 << 16) | flo);
    fn(arg);
}

void sw__ctx_make(sw__ctx *ctx, void *lo, size_t size, sw__ctx_fn fn, void *arg)
{
    getcontext(&ctx->uc);
    ctx->uc.uc_stack.ss_sp = lo;
    ctx->uc.uc_stack.ss_size = size;
    ctx->uc.uc_link = NULL;
    uintptr_t a = (uintptr_t)arg, f = (uintptr_t)fn;
    makecontext(&ctx->uc, (void (*)(void))ctx_entry, 4, (unsigned)(a >> 16 >> 16), (unsigned)a,
                (unsigned)(f >> 16 >> 16), (unsigned)f);
}

void sw__ctx_swap(sw__ctx *from, sw__ctx *to)
{
    swapcontext(&from->uc, &to->uc);
}

#endif

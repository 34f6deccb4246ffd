/* Execution contexts: a saved stack and registers to switch to and from.
 *
 * On x86-64 and aarch64 a switch saves the callee-saved registers (and the
 * floating-point control words) on the old stack and loads them from the
 * new one: a dozen instructions, no system call. Elsewhere it falls back to
 * ucontext, whose swapcontext also saves the signal mask (a system call).
 */
#ifndef STEWARD_TASK_CTX_H
#define STEWARD_TASK_CTX_H

#include <stddef.h>

#if defined(__x86_64__) || defined(__aarch64__)
#define SW__CTX_ASM 1
typedef struct sw__ctx {
    void *sp; /* the saved stack pointer; the registers lie above it */
} sw__ctx;
#else
#include <ucontext.h>
typedef struct sw__ctx {
    ucontext_t uc;
} sw__ctx;
#endif

typedef void (*sw__ctx_fn)(void *arg);

/* Prepares ctx to run fn(arg) on the stack [lo, lo + size) when first
 * switched to. fn must never return: it switches away for the last time. */
void sw__ctx_make(sw__ctx *ctx, void *lo, size_t size, sw__ctx_fn fn, void *arg);

/* Saves the running context into from and runs to; returns when something
 * switches back to from. */
void sw__ctx_swap(sw__ctx *from, sw__ctx *to);

#endif

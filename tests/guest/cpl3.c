/*
 * run_at_cpl3(): user code really runs at CPL3, gets its argument and
 * returns its result, may use port I/O (IOPL 3 or the runtime's #GP
 * emulation), MMIO and guest RAM, can
 * be abandoned from a trap handler, and leaves the caller's interrupt flag
 * and callee-saved registers alone.  Also prints how much faster a loop
 * runs at CPL3 than at CPL0 (informational: CPL0 is emulated on kvm_pvm).
 */
#include "rt.h"

#define LOOP_CPL3 10000000UL
#define LOOP_CPL0 2000UL

static uint64_t square_and_cpl(void *arg)
{
	uint64_t v = *(uint64_t *)arg;

	*(uint64_t *)arg = v * v;
	return current_cpl();
}

static uint64_t print_from_user(void *arg)
{
	printf("printf from CPL%u (%s)\n", current_cpl(), (const char *)arg);
	return 0;
}

static uint64_t read_lapic_version(void *unused)
{
	(void)unused;
	return lapic_read(LAPIC_VERSION);
}

static uint64_t user_fault(void *unused)
{
	(void)unused;
	__asm__ volatile("ud2");
	return 1; /* not reached: the handler aborts the user function */
}

static void abort_user(struct trap_frame *f)
{
	user_abort(f, 0xabcd);
}

static uint64_t loop(void *arg)
{
	uint64_t n = *(uint64_t *)arg, acc = 0;
	uint64_t t0 = rdtsc();

	for (uint64_t i = 0; i < n; i++) {
		acc += i ^ (acc >> 3);
		__asm__ volatile("" : "+r"(acc));
	}
	*(uint64_t *)arg = acc;
	return rdtsc() - t0;
}

uint64_t keep_registers(void *unused);
__attribute__((used)) uint64_t keep_registers(void *unused)
{
	(void)unused;
	/* Clobber everything the ABI lets us; the caller's values must survive. */
	__asm__ volatile("xor %%ebx, %%ebx\n\txor %%ebp, %%ebp\n\txor %%r12d, %%r12d\n\t"
			 "xor %%r13d, %%r13d\n\txor %%r14d, %%r14d\n\txor %%r15d, %%r15d"
			 :
			 :
			 : "rbx", "r12", "r13", "r14", "r15", "memory");
	return 0;
}

int main(void)
{
	uint64_t v = 12, n, t3, t0, flags;
	uint64_t r12 = 0x1212, r15 = 0x1515;

	TEST_ASSERT_EQ(current_cpl(), 0);
	TEST_ASSERT_EQ(run_at_cpl3(square_and_cpl, &v), 3);
	TEST_ASSERT_EQ(v, 144);
	printf("ok: argument, result and memory at CPL3\n");

	run_at_cpl3(print_from_user, "port I/O");
	printf("ok: port I/O at CPL3\n");

	TEST_ASSERT_EQ(run_at_cpl3(read_lapic_version, NULL), lapic_read(LAPIC_VERSION));
	printf("ok: MMIO at CPL3\n");

	set_trap_handler(6, abort_user);
	TEST_ASSERT_EQ(run_at_cpl3(user_fault, NULL), 0xabcd);
	set_trap_handler(6, NULL);
	printf("ok: user_abort\n");

	/* IF goes to CPL3 and comes back; the callee-saved registers survive. */
	sti();
	__asm__ volatile("mov %[a], %%r12\n\tmov %[b], %%r15\n\t"
			 "lea %[arg], %%rdi\n\t"
			 "call run_wrapper\n\t"
			 "mov %%r12, %[a]\n\tmov %%r15, %[b]"
			 : [a] "+r"(r12), [b] "+r"(r15)
			 : [arg] "m"(v)
			 : "rax", "rcx", "rdx", "rsi", "rdi", "r8", "r9", "r10", "r11", "r12",
			   "r15", "memory");
	__asm__ volatile("pushfq\n\tpopq %0" : "=r"(flags));
	cli();
	TEST_ASSERT_EQ(r12, 0x1212);
	TEST_ASSERT_EQ(r15, 0x1515);
	TEST_ASSERT(flags & (1 << 9));
	printf("ok: callee-saved registers and IF preserved\n");

	n = LOOP_CPL3;
	t3 = run_at_cpl3(loop, &n);
	n = LOOP_CPL0;
	t0 = loop(&n);
	printf("loop: %lu TSC ticks per iteration at CPL3, %lu at CPL0 (%lux)\n", t3 / LOOP_CPL3,
	       t0 / LOOP_CPL0, t3 ? (t0 / LOOP_CPL0) * LOOP_CPL3 / t3 : 0);
	printf("cpl3: all checks passed\n");
	return 0;
}

/* Called from the asm above so the compiler cannot keep r12/r15 live around it itself. */
void run_wrapper(void);
__asm__(".text\n"
	"run_wrapper:\n\t"
	"push %rbx\n\t"
	"mov %rdi, %rsi\n\t"
	"lea keep_registers(%rip), %rdi\n\t"
	"call run_at_cpl3\n\t"
	"pop %rbx\n\t"
	"ret\n");

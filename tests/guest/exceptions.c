/*
 * Exceptions raised at CPL0 and at CPL3 reach the guest's IDT handlers with
 * the right vector, error code, RIP, CS and CR2, and execution resumes where
 * the handler says.  At CPL0 this exercises the VMM (int3 is not emulated on
 * kvm_pvm hosts: minivmm must inject #BP itself); at CPL3 the CPU.
 */
#include "rt.h"

/* Not mapped by the runtime's page tables, which stop at 4 GiB. */
#define UNMAPPED_ADDR 0x100001234ULL

struct trap_record {
	uint32_t count;
	uint64_t vector, error, rip, cs, cr2;
};

static volatile struct trap_record rec;
/* Where the handler resumes: just after the instruction under test. */
static volatile uint64_t resume_rip;

static void on_trap(struct trap_frame *f)
{
	rec.count++;
	rec.vector = f->vector;
	rec.error = f->error;
	rec.rip = f->rip;
	rec.cs = f->cs;
	rec.cr2 = f->vector == 14 ? read_cr2() : 0;
	f->rip = resume_rip;
}

/* The address of the instruction under test and of the one after it. */
struct site {
	uint64_t insn, next;
};

/*
 * Runs one instruction (an asm string that may use %[addr]) with
 * resume_rip pointing after it.
 */
#define RUN_INSN(s, text, a)                                                                       \
	__asm__ volatile("lea 1f(%%rip), %[i]\n\t"                                                 \
			 "lea 2f(%%rip), %[n]\n\t"                                                 \
			 "mov %[n], %[resume]\n\t"                                                 \
			 "1: " text "\n"                                                           \
			 "2:\n\t"                                                                  \
			 : [i] "=&r"((s)->insn), [n] "=&r"((s)->next), [resume] "=m"(resume_rip)   \
			 : [addr] "r"(a)                                                           \
			 : "rax", "memory")

static uint64_t do_int3(void *p)
{
	RUN_INSN((struct site *)p, "int3", 0);
	return 0;
}

static uint64_t do_ud2(void *p)
{
	RUN_INSN((struct site *)p, "ud2", 0);
	return 0;
}

static uint64_t do_read(void *p)
{
	RUN_INSN((struct site *)p, "movq (%[addr]), %%rax", UNMAPPED_ADDR);
	return 0;
}

static uint64_t do_write(void *p)
{
	RUN_INSN((struct site *)p, "movq %%rax, (%[addr])", UNMAPPED_ADDR);
	return 0;
}

static uint64_t do_hlt(void *p)
{
	RUN_INSN((struct site *)p, "hlt", 0);
	return 0;
}

#define PF_WRITE 2
#define PF_USER	 4

struct check {
	const char *name;
	uint64_t (*fn)(void *);
	unsigned int cpl;
	uint64_t vector, error;
	bool trap; /* RIP points after the instruction (int3) rather than at it */
};

static const struct check checks[] = {
    {"int3 at CPL0", do_int3, 0, 3, 0, true},
    {"ud2 at CPL0", do_ud2, 0, 6, 0, false},
    {"read fault at CPL0", do_read, 0, 14, 0, false},
    {"write fault at CPL0", do_write, 0, 14, PF_WRITE, false},
    {"int3 at CPL3", do_int3, 3, 3, 0, true},
    {"ud2 at CPL3", do_ud2, 3, 6, 0, false},
    {"read fault at CPL3", do_read, 3, 14, PF_USER, false},
    {"write fault at CPL3", do_write, 3, 14, PF_USER | PF_WRITE, false},
    {"hlt at CPL3", do_hlt, 3, 13, 0, false},
};

static void run_check(const struct check *c)
{
	struct site s = {0, 0};

	memset((void *)&rec, 0, sizeof(rec));
	set_trap_handler((unsigned int)c->vector, on_trap);
	if (c->cpl == 3)
		run_at_cpl3(c->fn, &s);
	else
		c->fn(&s);
	set_trap_handler((unsigned int)c->vector, NULL);

	printf("%s: %u trap(s), vector %lu error 0x%lx rip 0x%lx cs 0x%lx cr2 0x%lx\n", c->name,
	       rec.count, rec.vector, rec.error, rec.rip, rec.cs, rec.cr2);
	TEST_ASSERT_EQ(rec.count, 1);
	TEST_ASSERT_EQ(rec.vector, c->vector);
	TEST_ASSERT_EQ(rec.rip, c->trap ? s.next : s.insn);
	TEST_ASSERT_EQ(rec.cs & 3, c->cpl);
	if (c->vector == 14) {
		TEST_ASSERT_EQ(rec.cr2, UNMAPPED_ADDR);
		/* Bits above U/S (reserved, instruction fetch, PK, ...) must be clear. */
		TEST_ASSERT_EQ(rec.error, c->error);
	} else if (c->vector == 13) {
		TEST_ASSERT_EQ(rec.error, c->error);
	}
	printf("ok: %s\n", c->name);
}

int main(void)
{
	for (unsigned int i = 0; i < sizeof(checks) / sizeof(checks[0]); i++)
		run_check(&checks[i]);
	printf("exceptions: all %u checks passed\n",
	       (unsigned int)(sizeof(checks) / sizeof(checks[0])));
	return 0;
}

/* Exception and interrupt dispatch (entered from rt_trap_common in entry.S). */
#include "internal.h"

static volatile trap_handler_t handlers[256];

static const char *const names[32] = {
    "#DE", "#DB", "NMI", "#BP", "#OF", "#BR", "#UD", "#NM", "#DF", "CSO", "#TS",
    "#NP", "#SS", "#GP", "#PF", "RSV", "#MF", "#AC", "#MC", "#XM", "#VE", "#CP",
};

const char *exception_name(unsigned int vector)
{
	if (vector < 32 && names[vector])
		return names[vector];
	return vector < 32 ? "reserved" : "interrupt";
}

void set_trap_handler(unsigned int vector, trap_handler_t h)
{
	if (vector < 256)
		handlers[vector] = h;
}

__attribute__((noreturn)) static void unhandled(struct trap_frame *f)
{
	printf("unhandled %s: vector %lu error 0x%lx rip 0x%lx cs 0x%lx rflags 0x%lx rsp 0x%lx "
	       "cr2 0x%lx cpu %u\n",
	       exception_name((unsigned int)f->vector), f->vector, f->error, f->rip, f->cs,
	       f->rflags, f->rsp, read_cr2(), this_cpu());
	printf("rax %lx rbx %lx rcx %lx rdx %lx rsi %lx rdi %lx rbp %lx\n", f->rax, f->rbx, f->rcx,
	       f->rdx, f->rsi, f->rdi, f->rbp);
	test_exit(RT_EXIT_EXCEPTION);
}

/*
 * IN/OUT at CPL3 is allowed by IOPL 3 on real hardware, but kvm_pvm hosts
 * keep the guest's user-mode IOPL at 0, so port I/O from CPL3 raises #GP(0).
 * Perform it here at CPL0 and skip the instruction, so user code can still
 * print and exit.  Only the forms the runtime's accessors generate are
 * handled (optional 0x66 prefix; E4-E7 with an immediate port, EC-EF with DX).
 */
static bool emulate_user_io(struct trap_frame *f)
{
	const uint8_t *ip = (const uint8_t *)f->rip;
	unsigned int len = 0, size = 4;
	uint8_t op;
	uint16_t port;
	bool in;

	if ((f->cs & 3) != 3 || f->error != 0)
		return false;
	if (ip[0] == 0x66) {
		size = 2;
		len++;
	}
	op = ip[len++];
	if (op >= 0xe4 && op <= 0xe7) {
		port = ip[len++];
	} else if (op >= 0xec && op <= 0xef) {
		port = (uint16_t)f->rdx;
	} else {
		return false;
	}
	if (!(op & 1))
		size = 1;
	in = !(op & 2);
	if (in) {
		uint64_t v = size == 1 ? inb(port) : size == 2 ? inw(port) : inl(port);

		if (size == 1)
			f->rax = (f->rax & ~0xffULL) | v;
		else if (size == 2)
			f->rax = (f->rax & ~0xffffULL) | v;
		else
			f->rax = v; /* a 32-bit destination zero-extends */
	} else if (size == 1) {
		outb(port, (uint8_t)f->rax);
	} else if (size == 2) {
		outw(port, (uint16_t)f->rax);
	} else {
		outl(port, (uint32_t)f->rax);
	}
	f->rip += len;
	return true;
}

void rt_trap(struct trap_frame *f)
{
	unsigned int v = (unsigned int)f->vector;
	trap_handler_t h = v < 256 ? handlers[v] : NULL;

	if (v == 13 && emulate_user_io(f))
		return;
	if (h) {
		h(f);
	} else if (v != RT_VEC_SPURIOUS) {
		unhandled(f);
	}
	/* The spurious vector must not be acknowledged; exceptions have nothing to ack. */
	if (v >= 32 && v != RT_VEC_SPURIOUS)
		lapic_eoi();
}

extern const uint8_t rt_user_exit[];

void user_abort(struct trap_frame *f, uint64_t value)
{
	if ((f->cs & 3) != 3) {
		printf("user_abort from a trap taken at CPL%lu\n", f->cs & 3);
		test_exit(RT_EXIT_FAIL);
	}
	f->rip = (uint64_t)rt_user_exit;
	f->rax = value;
}

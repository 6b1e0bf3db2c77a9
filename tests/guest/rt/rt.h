/*
 * The test-guest runtime: everything a freestanding minivmm test guest needs
 * between "minivmm jumped to e_entry" and "the test reports pass or fail".
 * See docs/test-guests.md for the boot protocol and how to write a guest.
 *
 * A guest defines `int main(void)`; the runtime calls it on the boot CPU at
 * CPL0 after setting up descriptors, page tables and the local APIC, and
 * passes its return value to test_exit().
 */
#ifndef RT_H
#define RT_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define RT_MAX_CPUS 16

/* Exit codes the runtime itself uses; a guest may use any other value. */
#define RT_EXIT_PASS	  0
#define RT_EXIT_FAIL	  1 /* TEST_ASSERT or a guest-detected failure */
#define RT_EXIT_EXCEPTION 2 /* exception or interrupt nobody handled */
#define RT_EXIT_TIMEOUT	  3 /* a bounded wait ran out */

/*
 * GDT selectors (RT_SEL_*) come from asm.h.  Vectors 0x20..0x2f belong to
 * the two 8259s, which the runtime remaps there and masks.
 */
#include "asm.h"
#define RT_VEC_SPURIOUS 0xff /* local APIC spurious vector, ignored */
#define RT_SEL_TSS(cpu) (0x30 + 16 * (cpu))

/* ---- ending the test ---- */

/* 32-bit write of code to the test-exit port; minivmm exits with code & 0xff. */
__attribute__((noreturn)) void test_exit(uint32_t code);

#include "rt_common.h"

/* ---- port and MMIO accessors ---- */

static inline void outb(uint16_t port, uint8_t v)
{
	__asm__ volatile("outb %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outw(uint16_t port, uint16_t v)
{
	__asm__ volatile("outw %0, %1" : : "a"(v), "Nd"(port));
}
static inline void outl(uint16_t port, uint32_t v)
{
	__asm__ volatile("outl %0, %1" : : "a"(v), "Nd"(port));
}
static inline uint8_t inb(uint16_t port)
{
	uint8_t v;
	__asm__ volatile("inb %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint16_t inw(uint16_t port)
{
	uint16_t v;
	__asm__ volatile("inw %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}
static inline uint32_t inl(uint16_t port)
{
	uint32_t v;
	__asm__ volatile("inl %1, %0" : "=a"(v) : "Nd"(port));
	return v;
}

/* One access of exactly the given width: no merging, splitting or reordering by the compiler. */
static inline uint8_t mmio_read8(uint64_t addr)
{
	return *(volatile uint8_t *)addr;
}
static inline uint16_t mmio_read16(uint64_t addr)
{
	return *(volatile uint16_t *)addr;
}
static inline uint32_t mmio_read32(uint64_t addr)
{
	return *(volatile uint32_t *)addr;
}
static inline uint64_t mmio_read64(uint64_t addr)
{
	return *(volatile uint64_t *)addr;
}
static inline void mmio_write8(uint64_t addr, uint8_t v)
{
	*(volatile uint8_t *)addr = v;
}
static inline void mmio_write16(uint64_t addr, uint16_t v)
{
	*(volatile uint16_t *)addr = v;
}
static inline void mmio_write32(uint64_t addr, uint32_t v)
{
	*(volatile uint32_t *)addr = v;
}
static inline void mmio_write64(uint64_t addr, uint64_t v)
{
	*(volatile uint64_t *)addr = v;
}

/* Orders normal memory accesses against each other and against MMIO. */
static inline void barrier(void)
{
	__asm__ volatile("" ::: "memory");
}
static inline void mb(void)
{
	__asm__ volatile("mfence" ::: "memory");
}

/* ---- CPU ---- */

static inline void cli(void)
{
	__asm__ volatile("cli" ::: "memory");
}
static inline void sti(void)
{
	__asm__ volatile("sti" ::: "memory");
}
static inline void cpu_relax(void)
{
	__asm__ volatile("pause" ::: "memory");
}
static inline uint64_t rdtsc(void)
{
	uint32_t lo, hi;
	__asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
	return ((uint64_t)hi << 32) | lo;
}
static inline uint64_t rdmsr(uint32_t msr)
{
	uint32_t lo, hi;
	__asm__ volatile("rdmsr" : "=a"(lo), "=d"(hi) : "c"(msr));
	return ((uint64_t)hi << 32) | lo;
}
static inline void wrmsr(uint32_t msr, uint64_t v)
{
	__asm__ volatile("wrmsr" : : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}
static inline uint64_t read_cr2(void)
{
	uint64_t v;
	__asm__ volatile("mov %%cr2, %0" : "=r"(v));
	return v;
}
static inline unsigned int current_cpl(void)
{
	uint16_t cs;
	__asm__ volatile("mov %%cs, %0" : "=r"(cs));
	return cs & 3;
}
static inline void cpuid(uint32_t leaf, uint32_t sub, uint32_t *a, uint32_t *b, uint32_t *c,
			 uint32_t *d)
{
	__asm__ volatile("cpuid" : "=a"(*a), "=b"(*b), "=c"(*c), "=d"(*d) : "a"(leaf), "c"(sub));
}

/* ---- per-CPU state ---- */

/* Index of the running CPU (its local APIC ID).  Works at CPL0 and CPL3. */
unsigned int this_cpu(void);
/* CPUs that have run rt's per-CPU set-up (the BSP, plus APs started by smp_start_aps). */
unsigned int rt_cpus_online(void);

/* ---- exceptions and interrupts ---- */

struct trap_frame {
	uint64_t r15, r14, r13, r12, r11, r10, r9, r8;
	uint64_t rbp, rdi, rsi, rdx, rcx, rbx, rax;
	uint64_t vector, error;
	uint64_t rip, cs, rflags, rsp, ss; /* as pushed by the CPU; rsp/ss even from CPL0 */
};

typedef void (*trap_handler_t)(struct trap_frame *f);

/*
 * Installs (or with NULL removes) the handler for a vector, on all CPUs.  The
 * handler runs at CPL0 with interrupts off and may change the frame (RIP,
 * registers) to resume elsewhere.  For vectors >= 32 the runtime sends the
 * local APIC EOI after the handler returns.  Vectors without a handler print
 * the vector, error code, RIP and CR2 and exit with RT_EXIT_EXCEPTION.
 */
void set_trap_handler(unsigned int vector, trap_handler_t h);
/*
 * Gate privilege: `int $vector` from CPL3 needs DPL 3 (the runtime sets it
 * for 3 and 4 only).  Note that on kvm_pvm hosts `int $n` from CPL3 raises
 * #UD instead (see docs/test-guests.md); int3 and exceptions are delivered.
 */
void set_trap_dpl(unsigned int vector, unsigned int dpl);
const char *exception_name(unsigned int vector);

/* ---- CPL3 ---- */

/*
 * Runs fn(arg) at CPL3 on this CPU's user stack and returns its result.
 * Interrupts are enabled at CPL3 iff they are enabled in the caller.  fn may
 * use port I/O (and so printf and test_exit): natively through IOPL 3 on
 * real hardware, through the runtime's #GP handler on kvm_pvm hosts, which
 * keep user IOPL at 0 (each access then costs a trap; keep port I/O out of
 * hot loops, MMIO is fine).  All guest memory below 4 GiB, MMIO included,
 * is user-accessible.  Interrupts and exceptions taken at CPL3 run their
 * handlers at CPL0 on the caller's kernel stack.  fn must not use cli/sti
 * or other privileged instructions (#GP).
 */
uint64_t run_at_cpl3(uint64_t (*fn)(void *arg), void *arg);

/* From a handler of a trap taken at CPL3: abandon fn, make run_at_cpl3 return value. */
void user_abort(struct trap_frame *f, uint64_t value);

/* ---- time (TSC) ---- */

/* TSC ticks per millisecond: from CPUID when offered, else an assumed 3 GHz. */
uint64_t tsc_per_ms(void);
bool tsc_khz_is_exact(void);
/*
 * Spins at CPL3 (native speed) until cond(arg) is true or timeout_ms pass;
 * returns whether cond became true.  Interrupts keep their current state.
 */
bool spin_until(bool (*cond)(void *arg), void *arg, uint64_t timeout_ms);
/* Busy-waits at CPL3. */
void delay_us(uint64_t us);

/* ---- boot_params and command line ---- */

const void *boot_params(void);
/* Does one usable (type 1) range of the e820 map in boot_params hold [base, end)? */
bool e820_covers(uint64_t base, uint64_t end);
const char *cmdline(void);

struct virtio_mmio_dev {
	uint64_t size;
	uint64_t base;
	uint32_t irq;
};
/*
 * Fills devs[] with the well-formed `virtio_mmio.device=<size>@<base>:<irq>[:<id>]`
 * entries (numbers as in Linux's memparse: decimal or 0x hex, optional K/M/G
 * suffix).  Returns how many were found (at most max); *malformed (if not
 * NULL) counts the entries that were skipped.
 */
int cmdline_virtio_mmio(struct virtio_mmio_dev *devs, int max, int *malformed);

/* ---- PCI configuration mechanism #1, bus 0, function 0 (port I/O) ---- */

uint32_t pci_cfg_read32(unsigned int slot, unsigned int reg);
void pci_cfg_write32(unsigned int slot, unsigned int reg, uint32_t v);

/* ---- local APIC, I/O APIC ---- */

#define LAPIC_BASE  0xFEE00000ULL
#define IOAPIC_BASE 0xFEC00000ULL

#define LAPIC_ID	 0x020
#define LAPIC_VERSION	 0x030
#define LAPIC_TPR	 0x080
#define LAPIC_EOI	 0x0b0
#define LAPIC_SVR	 0x0f0
#define LAPIC_ESR	 0x280
#define LAPIC_ICR_LO	 0x300
#define LAPIC_ICR_HI	 0x310
#define LAPIC_LVT_TIMER	 0x320
#define LAPIC_LVT_LINT0	 0x350
#define LAPIC_LVT_LINT1	 0x360
#define LAPIC_LVT_ERROR	 0x370
#define LAPIC_TIMER_INIT 0x380
#define LAPIC_TIMER_CUR	 0x390
#define LAPIC_TIMER_DIV	 0x3e0

#define LAPIC_LVT_MASKED	 (1u << 16)
#define LAPIC_TIMER_PERIODIC	 (1u << 17)
#define LAPIC_TIMER_TSC_DEADLINE (2u << 17)
#define MSR_IA32_TSC_DEADLINE	 0x6e0

static inline uint32_t lapic_read(uint32_t reg)
{
	return mmio_read32(LAPIC_BASE + reg);
}
static inline void lapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(LAPIC_BASE + reg, v);
}
static inline void lapic_eoi(void)
{
	lapic_write(LAPIC_EOI, 0);
}
unsigned int lapic_id(void);
/* Periodic timer: the KVM local APIC counts at 1 GHz before the divider (1..128). */
void lapic_timer_periodic(uint8_t vector, unsigned int divide, uint32_t count);
void lapic_timer_oneshot(uint8_t vector, unsigned int divide, uint32_t count);
/* TSC-deadline mode: one interrupt when the TSC reaches deadline. */
void lapic_timer_tsc_deadline(uint8_t vector, uint64_t deadline);
void lapic_timer_stop(void);
/* CPUID.1:ECX[24]: the local APIC timer has TSC-deadline mode. */
bool cpu_has_tsc_deadline(void);
/* Fixed IPI; false if the ICR stayed busy. */
bool lapic_send_ipi(unsigned int apic_id, uint8_t vector);
bool lapic_send_init(unsigned int apic_id);
bool lapic_send_sipi(unsigned int apic_id, uint8_t page);

#define IOAPIC_LEVEL	  (1u << 15)
#define IOAPIC_ACTIVE_LOW (1u << 13)
#define IOAPIC_MASKED	  (1u << 16)
/* Fixed delivery, physical destination. flags: IOAPIC_LEVEL, IOAPIC_ACTIVE_LOW, IOAPIC_MASKED. */
void ioapic_route(unsigned int pin, uint8_t vector, unsigned int dest_apic_id, uint32_t flags);
void ioapic_mask(unsigned int pin);
uint64_t ioapic_read_redirection(unsigned int pin);
unsigned int ioapic_pins(void);

/* ---- MP table (processors and ISA interrupt routing) ---- */

struct mp_info {
	unsigned int ncpus; /* enabled processors */
	uint8_t apic_id[RT_MAX_CPUS];
	int bsp_apic_id; /* -1 if no entry is flagged as boot processor */
	uint32_t lapic_addr;
	uint32_t ioapic_addr;
	int ioapic_id;	     /* -1 if none */
	int isa_irq_pin[16]; /* I/O APIC pin of each ISA IRQ, -1 if not listed */
};
/* Sum of n bytes mod 256: 0 for a firmware table with a good checksum (MP, ACPI). */
uint8_t byte_sum(const void *p, size_t n);
/* The MP floating pointer ("_MP_", spec 1.x, checksum good) in the EBDA at 0x9fc00, or NULL. */
const uint8_t *mp_floating_pointer(void);
/* Finds the floating pointer (mp_floating_pointer), checks checksums. */
bool mp_parse(struct mp_info *mp);

/* ---- SMP ---- */

/*
 * Starts every enabled processor of the MP table except this one with
 * INIT-SIPI-SIPI through a real-mode trampoline at 0x8000, one at a time.
 * Each AP switches to long mode, sets up its GDT/TSS/IDT/LAPIC like the BSP,
 * runs fn(cpu) at CPL0, then idles with interrupts enabled (`sti; hlt`).
 * Returns the number of APs that reached fn within timeout_ms each.
 */
unsigned int smp_start_aps(const struct mp_info *mp, void (*fn)(unsigned int cpu),
			   uint64_t timeout_ms);
/*
 * For the benchmark guests: CPUs with APIC IDs 1..ncpus-1 start and run fn
 * (CPU 0 is the caller), as smp_start_aps with 10 s each.  False, after
 * printing "bench: OPTION=NCPUS needs as many vCPUs (--cpus NCPUS)" or how
 * many started, if the VM has fewer CPUs or one did not start.
 */
bool smp_start_bench_cpus(unsigned int ncpus, void (*fn)(unsigned int cpu), const char *option);

/* A spinlock safe between CPUs (not against interrupt handlers on the same CPU). */
struct spinlock {
	volatile uint32_t locked;
};
void spin_lock(struct spinlock *l);
void spin_unlock(struct spinlock *l);

static inline uint32_t atomic_add(volatile uint32_t *p, uint32_t v)
{
	__asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*p) : : "memory");
	return v;
}

#endif

/* Local APIC, I/O APIC and the legacy 8259 PICs (remapped and masked). */
#include "internal.h"

#define ICR_BUSY	 (1u << 12)
#define ICR_LEVEL_ASSERT (1u << 14)
#define ICR_INIT	 (5u << 8)
#define ICR_STARTUP	 (6u << 8)
#define ICR_POLL_LIMIT	 100000

unsigned int lapic_id(void)
{
	return lapic_read(LAPIC_ID) >> 24;
}

void rt_lapic_init(void)
{
	lapic_write(LAPIC_TPR, 0);
	lapic_write(LAPIC_SVR, 0x100 | RT_VEC_SPURIOUS); /* software-enable */
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_LVT_ERROR, LAPIC_LVT_MASKED);
}

/*
 * The 8259s are left to the VMM's reset state (KVM's has vector base 0, so a
 * stray PIC interrupt would look like #DE).  Remap them to 0x20..0x2f and
 * mask every line: the runtime routes everything through the I/O APIC.
 */
void rt_pic_disable(void)
{
	outb(0x20, 0x11); /* ICW1: edge, cascade, ICW4 follows */
	outb(0xa0, 0x11);
	outb(0x21, 0x20); /* ICW2: vector base */
	outb(0xa1, 0x28);
	outb(0x21, 0x04); /* ICW3: slave on IRQ2 */
	outb(0xa1, 0x02);
	outb(0x21, 0x01); /* ICW4: 8086 mode */
	outb(0xa1, 0x01);
	outb(0x21, 0xff); /* OCW1: mask all */
	outb(0xa1, 0xff);
}

static uint32_t divide_config(unsigned int divide)
{
	/* Divide configuration register encodings for 2, 4, ..., 128, then 1. */
	switch (divide) {
	case 2:
		return 0x0;
	case 4:
		return 0x1;
	case 8:
		return 0x2;
	case 16:
		return 0x3;
	case 32:
		return 0x8;
	case 64:
		return 0x9;
	case 128:
		return 0xa;
	default:
		return 0xb;
	}
}

void lapic_timer_periodic(uint8_t vector, unsigned int divide, uint32_t count)
{
	lapic_write(LAPIC_TIMER_DIV, divide_config(divide));
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_PERIODIC | vector);
	lapic_write(LAPIC_TIMER_INIT, count);
}

void lapic_timer_oneshot(uint8_t vector, unsigned int divide, uint32_t count)
{
	lapic_write(LAPIC_TIMER_DIV, divide_config(divide));
	lapic_write(LAPIC_LVT_TIMER, vector);
	lapic_write(LAPIC_TIMER_INIT, count);
}

void lapic_timer_tsc_deadline(uint8_t vector, uint64_t deadline)
{
	lapic_write(LAPIC_LVT_TIMER, LAPIC_TIMER_TSC_DEADLINE | vector);
	/* The mode switch must be seen before the MSR write arms the timer. */
	__asm__ volatile("mfence" ::: "memory");
	wrmsr(MSR_IA32_TSC_DEADLINE, deadline);
}

void lapic_timer_stop(void)
{
	lapic_write(LAPIC_LVT_TIMER, LAPIC_LVT_MASKED);
	lapic_write(LAPIC_TIMER_INIT, 0);
	if (cpu_has_tsc_deadline())
		wrmsr(MSR_IA32_TSC_DEADLINE, 0);
}

/*
 * On kvm_pvm hosts leaf 1 seen from the guest kernel shows the host CPU's
 * bit whatever the VMM sets (docs/compat.md); on ordinary KVM it is the
 * VMM's choice, so this is where a VMM that forgets the bit is caught.
 */
bool cpu_has_tsc_deadline(void)
{
	uint32_t a, b, c, d;

	cpuid(1, 0, &a, &b, &c, &d);
	return c & (1u << 24);
}

static bool send_icr(unsigned int apic_id, uint32_t lo)
{
	lapic_write(LAPIC_ICR_HI, apic_id << 24);
	lapic_write(LAPIC_ICR_LO, lo);
	for (int i = 0; i < ICR_POLL_LIMIT; i++)
		if (!(lapic_read(LAPIC_ICR_LO) & ICR_BUSY))
			return true;
	return false;
}

bool lapic_send_ipi(unsigned int apic_id, uint8_t vector)
{
	return send_icr(apic_id, ICR_LEVEL_ASSERT | vector);
}

bool lapic_send_init(unsigned int apic_id)
{
	return send_icr(apic_id, ICR_LEVEL_ASSERT | ICR_INIT);
}

bool lapic_send_sipi(unsigned int apic_id, uint8_t page)
{
	return send_icr(apic_id, ICR_LEVEL_ASSERT | ICR_STARTUP | page);
}

#define IOAPIC_REGSEL 0x00
#define IOAPIC_WIN    0x10
#define IOAPIC_VER    0x01
#define IOAPIC_REDTBL 0x10

static struct spinlock ioapic_lock;

static uint32_t ioapic_read(uint32_t reg)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	return mmio_read32(IOAPIC_BASE + IOAPIC_WIN);
}

static void ioapic_write(uint32_t reg, uint32_t v)
{
	mmio_write32(IOAPIC_BASE + IOAPIC_REGSEL, reg);
	mmio_write32(IOAPIC_BASE + IOAPIC_WIN, v);
}

unsigned int ioapic_pins(void)
{
	unsigned int n;

	spin_lock(&ioapic_lock);
	n = ((ioapic_read(IOAPIC_VER) >> 16) & 0xff) + 1;
	spin_unlock(&ioapic_lock);
	return n;
}

void ioapic_route(unsigned int pin, uint8_t vector, unsigned int dest_apic_id, uint32_t flags)
{
	spin_lock(&ioapic_lock);
	/* Mask first so the entry is never live half-written. */
	ioapic_write(IOAPIC_REDTBL + 2 * pin, IOAPIC_MASKED);
	ioapic_write(IOAPIC_REDTBL + 2 * pin + 1, dest_apic_id << 24);
	ioapic_write(IOAPIC_REDTBL + 2 * pin, vector | flags);
	spin_unlock(&ioapic_lock);
}

void ioapic_mask(unsigned int pin)
{
	spin_lock(&ioapic_lock);
	ioapic_write(IOAPIC_REDTBL + 2 * pin, ioapic_read(IOAPIC_REDTBL + 2 * pin) | IOAPIC_MASKED);
	spin_unlock(&ioapic_lock);
}

uint64_t ioapic_read_redirection(unsigned int pin)
{
	uint64_t v;

	spin_lock(&ioapic_lock);
	v = ioapic_read(IOAPIC_REDTBL + 2 * pin) |
	    ((uint64_t)ioapic_read(IOAPIC_REDTBL + 2 * pin + 1) << 32);
	spin_unlock(&ioapic_lock);
	return v;
}

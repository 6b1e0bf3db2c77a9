/* Intel MultiProcessor Specification 1.4 tables: processors and ISA IRQ routing. */
#include "internal.h"

#include "../../../vmm/core/byteorder.h"

#define MP_SEARCH_START 0x9fc00
#define MP_SEARCH_END	0xa0000

#define MP_PROCESSOR 0
#define MP_BUS	     1
#define MP_IOAPIC    2
#define MP_IOINTR    3
#define MP_LINTR     4

uint8_t byte_sum(const void *p, size_t n)
{
	const uint8_t *b = p;
	uint8_t s = 0;

	for (size_t i = 0; i < n; i++)
		s += b[i];
	return s;
}

const uint8_t *mp_floating_pointer(void)
{
	for (uint64_t a = MP_SEARCH_START; a + 16 <= MP_SEARCH_END; a += 16) {
		const uint8_t *p = (const uint8_t *)a;

		if (memcmp(p, "_MP_", 4) == 0 && p[8] == 1 && byte_sum(p, 16) == 0)
			return p;
	}
	return NULL;
}

bool mp_parse(struct mp_info *mp)
{
	const uint8_t *fp = mp_floating_pointer();
	const uint8_t *ct, *e, *end;
	int isa_bus = -1;
	uint16_t len, count;

	memset(mp, 0, sizeof(*mp));
	mp->bsp_apic_id = -1;
	mp->ioapic_id = -1;
	for (int i = 0; i < 16; i++)
		mp->isa_irq_pin[i] = -1;
	if (!fp) {
		printf("mp: no floating pointer at 0x%x\n", MP_SEARCH_START);
		return false;
	}
	ct = (const uint8_t *)(uint64_t)get_le32(fp + 4);
	if (!ct || memcmp(ct, "PCMP", 4) != 0) {
		printf("mp: no configuration table (pointer 0x%lx)\n", (uint64_t)ct);
		return false;
	}
	len = get_le16(ct + 4);
	count = get_le16(ct + 0x22);
	if (len < 0x2c || byte_sum(ct, len) != 0) {
		printf("mp: bad configuration table (length %u)\n", len);
		return false;
	}
	mp->lapic_addr = get_le32(ct + 0x24);
	e = ct + 0x2c;
	end = ct + len;
	/* Buses first: I/O interrupt entries name the ISA bus by ID. */
	for (int pass = 0; pass < 2; pass++) {
		e = ct + 0x2c;
		for (unsigned int i = 0; i < count && e < end; i++) {
			size_t size = e[0] == MP_PROCESSOR ? 20 : 8;

			if (e + size > end || e[0] > MP_LINTR) {
				printf("mp: bad entry %u (type %u)\n", i, e[0]);
				return false;
			}
			if (pass == 0 && e[0] == MP_BUS && memcmp(e + 2, "ISA   ", 6) == 0)
				isa_bus = e[1];
			if (pass == 1 && e[0] == MP_PROCESSOR && (e[3] & 1) &&
			    mp->ncpus < RT_MAX_CPUS) {
				mp->apic_id[mp->ncpus++] = e[1];
				if (e[3] & 2)
					mp->bsp_apic_id = e[1];
			}
			if (pass == 1 && e[0] == MP_IOAPIC && (e[3] & 1) && mp->ioapic_id < 0) {
				mp->ioapic_id = e[1];
				mp->ioapic_addr = get_le32(e + 4);
			}
			if (pass == 1 && e[0] == MP_IOINTR && e[1] == 0 /* INT */ &&
			    e[4] == isa_bus && e[5] < 16)
				mp->isa_irq_pin[e[5]] = e[7];
			e += size;
		}
	}
	return true;
}

#include "stats.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "vm.h"

/*
 * Resident memory of the whole process and of guest RAM, in KiB, from ONE
 * walk of /proc/self/smaps, so that their difference, the VMM's own
 * footprint, is never negative.  (VmRSS in /proc/self/status lags by up to
 * 64 pages per thread on kernels that batch RSS counters per thread, and
 * mincore() on guest RAM counts pages at another moment: their difference
 * was seen at -188 KiB.)  Mappings inside guest RAM count as guest.
 * Returns 0, or -1 (outputs untouched) if smaps cannot be read.
 */
int stats_resident_kib(const struct vm *vm, long *total_kib, long *guest_kib)
{
	uintptr_t guest_start = (uintptr_t)vm->mem.mapping;
	uintptr_t guest_end = guest_start + (vm->mem.mapping ? vm->mem.mapping_size : 0);
	bool in_guest = false;
	char line[512];
	long kib, total = 0, guest = 0;
	FILE *f = fopen("/proc/self/smaps", "r");
	unsigned long start, end;

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "%lx-%lx ", &start, &end) == 2)
			in_guest = start >= guest_start && end <= guest_end && start < end;
		else if (sscanf(line, "Rss: %ld kB", &kib) == 1) {
			total += kib;
			if (in_guest)
				guest += kib;
		}
	}
	fclose(f);
	*total_kib = total;
	*guest_kib = guest;
	return 0;
}

static void print_bus(const struct bus *bus, FILE *out)
{
	for (unsigned int i = 0; i < bus->nr_ranges; i++) {
		unsigned long n = atomic_load(&((struct bus *)bus)->ranges[i].accesses);

		if (n)
			fprintf(out, "stats: %s %s 0x%llx: %lu exits\n", bus->name,
				bus->ranges[i].name, (unsigned long long)bus->ranges[i].base, n);
	}
	if (atomic_load(&((struct bus *)bus)->unhandled))
		fprintf(out, "stats: %s unassigned: %lu exits\n", bus->name,
			atomic_load(&((struct bus *)bus)->unhandled));
}

void stats_print(struct vm *vm, FILE *out)
{
	unsigned long total = 0, io = 0, mmio = 0, other = 0;
	long rss = -1, guest = -1;

	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *v = &vm->vcpus[i];

		fprintf(out, "stats: vcpu%u exits=%lu io=%lu mmio=%lu other=%lu\n", i,
			atomic_load(&v->exits_total), atomic_load(&v->exits_io),
			atomic_load(&v->exits_mmio), atomic_load(&v->exits_other));
		total += atomic_load(&v->exits_total);
		io += atomic_load(&v->exits_io);
		mmio += atomic_load(&v->exits_mmio);
		other += atomic_load(&v->exits_other);
	}
	fprintf(out, "stats: exits total=%lu io=%lu mmio=%lu other=%lu\n", total, io, mmio, other);
	print_bus(&vm->pio, out);
	print_bus(&vm->mmio, out);
	for (unsigned int i = 0; i < vm->nr_stats; i++)
		vm->stats[i].fn(vm->stats[i].opaque, out);
	stats_resident_kib(vm, &rss, &guest);
	fprintf(out,
		"stats: startup_cpu_us=%ld rss_kib=%ld guest_ram_resident_kib=%ld "
		"vmm_rss_kib=%ld\n",
		atomic_load(&vm->startup_cpu_us), rss, guest,
		rss >= 0 && guest >= 0 ? rss - guest : -1);
	fflush(out);
}

#include "stats.h"

#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "vm.h"

static long rss_kib(void)
{
	char line[256];
	long kib = -1;
	FILE *f = fopen("/proc/self/status", "r");

	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "VmRSS: %ld kB", &kib) == 1)
			break;
	fclose(f);
	return kib;
}

/* Resident pages of guest RAM, so the VMM's own footprint can be told apart. */
static long guest_resident_kib(const struct vm *vm)
{
	long page = sysconf(_SC_PAGESIZE);
	size_t pages;
	unsigned char *vec;
	long resident = 0;

	if (!vm->mem.mapping)
		return 0;
	pages = (vm->mem.mapping_size + page - 1) / page;
	vec = malloc(pages);
	if (!vec)
		return -1;
	if (mincore(vm->mem.mapping, vm->mem.mapping_size, vec) == 0)
		for (size_t i = 0; i < pages; i++)
			resident += vec[i] & 1;
	else
		resident = -1;
	free(vec);
	return resident < 0 ? -1 : resident * (page / 1024);
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
	long rss = rss_kib(), guest = guest_resident_kib(vm);

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
	fprintf(out,
		"stats: startup_cpu_us=%ld rss_kib=%ld guest_ram_resident_kib=%ld "
		"vmm_rss_kib=%ld\n",
		atomic_load(&vm->startup_cpu_us), rss, guest,
		rss >= 0 && guest >= 0 ? rss - guest : -1);
	fflush(out);
}

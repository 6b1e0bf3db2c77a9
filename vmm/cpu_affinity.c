#include "cpu_affinity.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "cpu_list.h"
#include "iothread.h"
#include "log.h"
#include "vm.h"

/* A token of the value, not NUL-terminated. */
struct cpu_affinity_span {
	const char *s;
	size_t len;
};

/*
 * The list that starts at list runs up to the comma before the next token
 * holding '=' (the next KEY=), or to the end: "0,2,io=1" -> "0,2".
 */
static const char *cpu_affinity_list_end(const char *list)
{
	const char *comma;

	while ((comma = strchr(list, ',')) != NULL) {
		const char *next = comma + 1;

		if (memchr(next, '=', (size_t)(strchrnul(next, ',') - next)))
			return comma;
		list = next;
	}
	return list + strlen(list);
}

/* "vcpu17" -> 17.  false unless key is "vcpu" and 1+ digits; saturates at CONFIG_MAX_CPUS. */
static bool cpu_affinity_vcpu_key(struct cpu_affinity_span key, unsigned int *id)
{
	static const char prefix[] = "vcpu";
	const size_t plen = sizeof(prefix) - 1;
	unsigned int n = 0;

	if (key.len <= plen || memcmp(key.s, prefix, plen) != 0)
		return false;
	for (size_t i = plen; i < key.len; i++) {
		if (key.s[i] < '0' || key.s[i] > '9')
			return false;
		if (n < CONFIG_MAX_CPUS)
			n = n * 10 + (unsigned int)(key.s[i] - '0');
	}
	*id = n;
	return true;
}

static bool cpu_affinity_key_is(struct cpu_affinity_span key, const char *word)
{
	return key.len == strlen(word) && memcmp(key.s, word, key.len) == 0;
}

/* The placement KEY= fills, or NULL with why filled. */
static struct cpu_placement *cpu_affinity_slot(struct cpu_affinity_config *a,
					       struct cpu_affinity_span key, char *why,
					       size_t whylen)
{
	unsigned int id;

	if (cpu_affinity_key_is(key, "vcpus"))
		return &a->vcpus;
	if (cpu_affinity_key_is(key, "io"))
		return &a->io;
	if (!cpu_affinity_vcpu_key(key, &id)) {
		snprintf(why, whylen, "unknown key '%.*s' (expected vcpus=, vcpuN= or io=)",
			 (int)key.len, key.s);
		return NULL;
	}
	if (id >= CONFIG_MAX_CPUS) {
		snprintf(why, whylen, "%.*s=: no such vCPU (at most %d vCPUs, vcpu0 to vcpu%d)",
			 (int)key.len, key.s, CONFIG_MAX_CPUS, CONFIG_MAX_CPUS - 1);
		return NULL;
	}
	return &a->vcpu[id];
}

int cpu_affinity_parse(const char *arg, struct cpu_affinity_config *out, char *why, size_t whylen)
{
	struct cpu_affinity_config a;
	const char *s = arg;

	memset(&a, 0, sizeof(a));
	for (;;) {
		const char *token_end = strchrnul(s, ',');
		const char *eq = memchr(s, '=', (size_t)(token_end - s));
		struct cpu_affinity_span key = {s, eq ? (size_t)(eq - s) : 0};
		struct cpu_placement *slot;
		const char *list, *list_end;
		char list_why[160];

		/* Only the first token can lack a key: a list takes those after it. */
		if (!eq) {
			snprintf(why, whylen,
				 "'%.*s' belongs to no list (start with vcpus=, vcpuN= or io=)",
				 (int)(token_end - s), s);
			return -1;
		}
		slot = cpu_affinity_slot(&a, key, why, whylen);
		if (!slot)
			return -1;
		if (slot->set) {
			snprintf(why, whylen, "%.*s= given twice", (int)key.len, key.s);
			return -1;
		}
		list = eq + 1;
		list_end = cpu_affinity_list_end(list);
		if (cpu_list_parse(list, (size_t)(list_end - list), &slot->cpus, list_why,
				   sizeof(list_why))) {
			snprintf(why, whylen, "%.*s: %s", (int)(list_end - s), s, list_why);
			return -1;
		}
		slot->set = true;
		if (*list_end == '\0')
			break;
		s = list_end + 1;
	}
	*out = a;
	return 0;
}

/* 0, or -1 with why when p has a CPU outside allowed. */
static int cpu_affinity_check_cpus(const struct cpu_placement *p, const char *key,
				   const cpu_set_t *allowed, char *why, size_t whylen)
{
	char list[CPU_LIST_MAX];

	if (!p->set)
		return 0;
	for (int c = 0; c < CPU_SETSIZE; c++) {
		if (!CPU_ISSET(c, &p->cpus) || CPU_ISSET(c, allowed))
			continue;
		cpu_list_format(allowed, list, sizeof(list));
		snprintf(why, whylen,
			 "CPU %d (in %s=) is not one this process may run on (allowed: %s)", c, key,
			 list[0] ? list : "none");
		return -1;
	}
	return 0;
}

int cpu_affinity_check(const struct cpu_affinity_config *a, unsigned int nr_vcpus,
		       const cpu_set_t *allowed, char *why, size_t whylen)
{
	char key[16];

	for (unsigned int id = nr_vcpus; id < CONFIG_MAX_CPUS; id++) {
		if (!a->vcpu[id].set)
			continue;
		if (nr_vcpus == 1)
			snprintf(why, whylen,
				 "vcpu%u=: no such vCPU (with --cpus 1 there is only vcpu0)", id);
		else
			snprintf(why, whylen,
				 "vcpu%u=: no such vCPU (with --cpus %u they are vcpu0 to vcpu%u)",
				 id, nr_vcpus, nr_vcpus - 1);
		return -1;
	}
	if (cpu_affinity_check_cpus(&a->vcpus, "vcpus", allowed, why, whylen) ||
	    cpu_affinity_check_cpus(&a->io, "io", allowed, why, whylen))
		return -1;
	for (unsigned int id = 0; id < CONFIG_MAX_CPUS; id++) {
		snprintf(key, sizeof(key), "vcpu%u", id);
		if (cpu_affinity_check_cpus(&a->vcpu[id], key, allowed, why, whylen))
			return -1;
	}
	return 0;
}

const cpu_set_t *cpu_affinity_of_vcpu(const struct cpu_affinity_config *a, unsigned int id)
{
	if (id < CONFIG_MAX_CPUS && a->vcpu[id].set)
		return &a->vcpu[id].cpus;
	return a->vcpus.set ? &a->vcpus.cpus : NULL;
}

void cpu_affinity_place_vcpu(struct vcpu *vcpu)
{
	const cpu_set_t *cpus = cpu_affinity_of_vcpu(&vcpu->vm->cfg->cpu_affinity, vcpu->id);
	char list[CPU_LIST_MAX];
	int err;

	if (!cpus)
		return;
	cpu_list_format(cpus, list, sizeof(list));
	err = pthread_setaffinity_np(pthread_self(), sizeof(*cpus), cpus);
	if (err) {
		log_error("vCPU %u: cannot run on host CPUs %s: %s; stopping the VM", vcpu->id,
			  list, strerror(err));
		vm_request_stop(vcpu->vm, VM_STOP_ERROR, 0);
		return;
	}
	log_debug("vCPU %u: runs on host CPUs %s", vcpu->id, list);
}

/* An I/O thread could not be placed (it has logged why). */
static void cpu_affinity_io_failed(void *vm)
{
	vm_request_stop(vm, VM_STOP_ERROR, 0);
}

void cpu_affinity_place_io_threads(struct vm *vm)
{
	const struct cpu_placement *io = &vm->cfg->cpu_affinity.io;

	iothread_set_default_affinity(io->set ? &io->cpus : NULL, cpu_affinity_io_failed, vm);
}

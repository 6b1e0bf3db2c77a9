/*
 * The compat CPU profile's changes to what the guest sees (see the header
 * and docs/compat.md for why each one is needed).
 */
#include "compat_profile.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "util.h"

#define CPUID_1_ECX_CX16		(1U << 13)
#define CPUID_1_ECX_POPCNT		(1U << 23)
#define CPUID_1_ECX_XSAVE		(1U << 26)
#define CPUID_1_ECX_OSXSAVE		(1U << 27)
#define CPUID_1_ECX_AVX			(1U << 28)
#define CPUID_7_EBX_FSGSBASE		(1U << 0)
#define CPUID_7_EBX_AVX2		(1U << 5)
#define CPUID_7_EBX_ERMS		(1U << 9)
#define CPUID_7_EBX_SMAP		(1U << 20)
#define KVM_CPUID_FEATURES		0x40000001
#define KVM_FEATURE_ASYNC_PF_BIT	4
#define KVM_FEATURE_PV_UNHALT_BIT	7
#define KVM_FEATURE_ASYNC_PF_VMEXIT_BIT 10
#define KVM_FEATURE_PV_SEND_IPI_BIT	11
#define KVM_FEATURE_PV_SCHED_YIELD_BIT	13
#define KVM_FEATURE_ASYNC_PF_INT_BIT	14

void compat_profile_filter_cpuid(struct kvm_cpuid2 *cpuid)
{
	/* vmcall at CPL0 never completes on such hosts: hide what uses it. */
	const uint32_t hidden_kvm_features =
	    (1U << KVM_FEATURE_PV_SEND_IPI_BIT) | (1U << KVM_FEATURE_PV_SCHED_YIELD_BIT) |
	    (1U << KVM_FEATURE_PV_UNHALT_BIT) | (1U << KVM_FEATURE_ASYNC_PF_BIT) |
	    (1U << KVM_FEATURE_ASYNC_PF_VMEXIT_BIT) | (1U << KVM_FEATURE_ASYNC_PF_INT_BIT);
	unsigned int kept = 0;

	for (unsigned int i = 0; i < cpuid->nent; i++) {
		struct kvm_cpuid_entry2 e = cpuid->entries[i];

		switch (e.function) {
		case 1:
			e.ecx &= ~(CPUID_1_ECX_CX16 | CPUID_1_ECX_POPCNT | CPUID_1_ECX_XSAVE |
				   CPUID_1_ECX_OSXSAVE | CPUID_1_ECX_AVX);
			break;
		case 7:
			if (e.index == 0)
				e.ebx &= ~(CPUID_7_EBX_SMAP | CPUID_7_EBX_ERMS | CPUID_7_EBX_AVX2 |
					   CPUID_7_EBX_FSGSBASE);
			break;
		case 0xd:
			continue; /* no XSAVE state leaf */
		case KVM_CPUID_FEATURES:
			e.eax &= ~hidden_kvm_features;
			break;
		}
		cpuid->entries[kept++] = e;
	}
	cpuid->nent = kept;
}

/*
 * The features Linux must clear itself, because this kind of host ignores
 * KVM_SET_CPUID2 for what guest CPL0 code sees.  Given by number (Linux's
 * X86_FEATURE_* = 32 * word + bit), which every kernel's clearcpuid=
 * accepts; names work only from Linux 5.19 and only with
 * CONFIG_X86_FEATURE_NAMES.  The guest logs their names either way.
 */
static const struct {
	const char *number, *name;
} cleared_features[] = {
    {"308", "smap"},   /* word 9 bit 20: clac/stac are not emulated */
    {"151", "popcnt"}, /* word 4 bit 23: popcnt is not emulated */
    {"154", "xsave"},  /* word 4 bit 26: xsave/xrstor are not emulated (= noxsave) */
    {"141", "cx16"},   /* word 4 bit 13: lock cmpxchg16b is not emulated (SLUB) */
};

#define NOFSGSBASE "nofsgsbase"

/*
 * Start of the last word that begins with "key=" (key ends in '=') or that
 * is exactly key; NULL if none.
 */
static char *find_last_word(char *cmdline, const char *key)
{
	size_t len = strlen(key);
	bool prefix = key[len - 1] == '=';
	char *found = NULL;

	for (char *p = strstr(cmdline, key); p; p = strstr(p + 1, key))
		if ((p == cmdline || p[-1] == ' ') && (prefix || p[len] == ' ' || p[len] == '\0'))
			found = p;
	return found;
}

/* Is feature (by number or name) in the comma list that starts at list? */
static bool list_has(const char *list, const char *number, const char *name)
{
	for (;;) {
		size_t n = strcspn(list, ", "); /* the list ends at a space or the end */

		if ((n == strlen(number) && !strncmp(list, number, n)) ||
		    (n == strlen(name) && !strncmp(list, name, n)))
			return true;
		if (list[n] != ',')
			return false;
		list += n + 1;
	}
}

int compat_profile_cmdline(char *cmdline, size_t size)
{
	static const char new_param[] = "clearcpuid=", nofsgsbase[] = " " NOFSGSBASE;
	size_t used = strlen(cmdline), list_end = used, need;
	char *param = find_last_word(cmdline, new_param);
	bool has_nofsgsbase = find_last_word(cmdline, NOFSGSBASE) != NULL;
	bool list_empty = true;
	const char *list = param ? param + strlen(new_param) : NULL;
	char add[64] = "";

	if (list) {
		list_end = (size_t)(list - cmdline) + strcspn(list, " ");
		list_empty = list_end == (size_t)(list - cmdline);
	}
	for (size_t i = 0; i < ARRAY_SIZE(cleared_features); i++)
		if (!list || !list_has(list, cleared_features[i].number, cleared_features[i].name))
			snprintf(add + strlen(add), sizeof(add) - strlen(add), "%s%s",
				 add[0] || !list_empty ? "," : "", cleared_features[i].number);

	/* Checked before anything moves, so a line too long stays as it was. */
	need = used + strlen(add) + (has_nofsgsbase ? 0 : strlen(nofsgsbase)) +
	       (param ? 0 : (used ? 1 : 0) + strlen(new_param));
	if (need >= size)
		return -ENOSPC;
	if (param) {
		memmove(cmdline + list_end + strlen(add), cmdline + list_end, used - list_end + 1);
		memcpy(cmdline + list_end, add, strlen(add));
	} else {
		snprintf(cmdline + used, size - used, "%s%s%s", used ? " " : "", new_param, add);
	}
	if (!has_nofsgsbase)
		strcat(cmdline, nofsgsbase);
	return 0;
}

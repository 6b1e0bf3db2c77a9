/* Reading guest memory by virtual address, for exit reports and the compat fix-ups. */
#include "cpu.h"

#include <linux/kvm.h>
#include <string.h>
#include <sys/ioctl.h>

#include "guest_mem.h"
#include "vm.h"

int x86_read_guest_virt(struct vcpu *vcpu, uint64_t gva, void *buf, size_t len)
{
	uint8_t *out = buf;

	while (len) {
		struct kvm_translation tr = {.linear_address = gva};
		size_t chunk = 4096 - (gva & 4095);
		const void *src;

		if (chunk > len)
			chunk = len;
		if (ioctl(vcpu->fd, KVM_TRANSLATE, &tr) < 0 || !tr.valid)
			return -1;
		src = guest_mem_ptr(&vcpu->vm->mem, tr.physical_address, chunk);
		if (!src)
			return -1;
		memcpy(out, src, chunk);
		out += chunk;
		gva += chunk;
		len -= chunk;
	}
	return 0;
}

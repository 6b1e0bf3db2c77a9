/*
 * The virtual machine: KVM file descriptors, guest memory, the two buses,
 * the vCPUs and the machine-wide services devices use (interrupt lines,
 * irqfd/ioeventfd, kernel command line, shutdown, and in resources.h the
 * allocator of device windows, BARs, PCI slots and their lines).
 *
 * Devices call only the vm_* functions declared here, never KVM ioctls, so
 * unit tests can link device models against tests/unit/fake_vm.c instead.
 */
#ifndef MINIVMM_VM_H
#define MINIVMM_VM_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#include "bus.h"
#include "vm_config.h"
#include "guest_mem.h"
#include "resources.h"

#define VM_MAX_CPUS 64

/*
 * Why minivmm stopped; main() turns this into the exit status and the final
 * line on stderr (vm_exit_status(), vm_describe_stop(); docs/usage.md,
 * "Exit status").
 */
enum vm_stop_reason {
	VM_RUNNING = 0,
	VM_STOP_POWEROFF,     /* guest wrote the power-off/test-exit port */
	VM_STOP_RESET,	      /* i8042 reset pulse */
	VM_STOP_TRIPLE_FAULT, /* KVM_EXIT_SHUTDOWN */
	VM_STOP_CONSOLE,      /* Ctrl-A x on the console */
	VM_STOP_SIGNAL,	      /* SIGINT/SIGTERM/SIGHUP; stop_status is the signal */
	VM_STOP_ERROR,	      /* unhandled exit, device or VMM failure */
	VM_STOP_API,	      /* "stop" on the control socket, forced (vmm/api_commands.c) */
};

/*
 * Exit statuses of the minivmm process (docs/usage.md, "Exit status").  The
 * guest's power-off status v passes through when v <= EXIT_STATUS_GUEST_MAX
 * and becomes EXIT_STATUS_GUEST_MAX above it; every status minivmm chooses
 * itself is larger, so a script can tell "minivmm failed" from "the guest
 * said N".  tests/integration/lib/exit_status.sh has the same names.
 */
#define EXIT_STATUS_GUEST_MAX	 99
#define EXIT_STATUS_ERROR	 100 /* start-up failure or error in minivmm */
#define EXIT_STATUS_USAGE	 101 /* bad command line */
#define EXIT_STATUS_RESET	 102
#define EXIT_STATUS_TRIPLE_FAULT 103
#define EXIT_STATUS_CONSOLE	 104 /* Ctrl-A x */
#define EXIT_STATUS_API_STOP	 105 /* "stop" on the control socket (--api-socket) */
#define EXIT_STATUS_SIGNAL_BASE	 128 /* + the number of the signal that stopped it */

struct vm;
struct pci_bus;
struct kvm_trace;

#define VM_MAX_STATS	       32
#define VM_MAX_DEFERRED_IRQFDS 32

struct json_object;

/*
 * A device's --stats reporter: adds its figures to the JSON object of the
 * device it registered for (docs/stats.md lists every key).
 */
typedef void (*vm_stats_fn)(void *opaque, struct json_object *device);

struct vcpu {
	struct vm *vm;
	unsigned int id;
	int fd;
	struct kvm_run *run;
	pthread_t thread;
	atomic_int tid; /* kernel thread id, set by the thread itself before its first KVM_RUN */
	/* Exit counters by KVM exit reason, for --stats. */
	atomic_ulong exits_io, exits_mmio, exits_other, exits_total;
};

struct vm {
	const struct vm_config *cfg;
	int kvm_fd;
	int vm_fd;
	int run_size; /* mmap size of struct kvm_run */
	struct guest_mem mem;
	struct bus pio;
	struct bus mmio;
	struct pci_bus *pci;	       /* devices/pci.c; NULL until a PCI device exists */
	struct kvm_trace *trace;       /* vmm/kvm_trace.c: in-kernel exits; NULL when not counted */
	struct vm_resources resources; /* device windows, BARs, PCI slots and lines */
	unsigned int nr_vcpus;
	struct vcpu vcpus[VM_MAX_CPUS];

	/* Kernel command line as passed to the guest (user part + devices). */
	char cmdline[CONFIG_CMDLINE_MAX];

	atomic_int stop_reason; /* enum vm_stop_reason */
	atomic_int stop_status; /* guest-chosen status for VM_STOP_POWEROFF */
	int stop_pipe[2];	/* written once on stop; main thread waits on it */

	struct {
		const char *device; /* the key under "devices" */
		vm_stats_fn fn;
		void *opaque;
	} stats[VM_MAX_STATS];
	unsigned int nr_stats;

	atomic_long startup_cpu_us; /* process CPU time at the first KVM_RUN */
	uint64_t kernel_entry;	    /* set by arch_load_kernel, used for the BSP */

	/* Host-compatibility state (arch/x86/compat.c). */
	bool host_emulates_kernel;
	bool cpu_compat; /* the compat CPU profile is in force */
	bool has_ioeventfd;
	bool has_irqfd;

	/* irqfds asked for before the interrupt controller could take them (vm_add_irqfd). */
	bool irqchip_ready;
	struct vm_deferred_irqfd {
		unsigned int gsi;
		int efd, resample_fd;
	} deferred_irqfds[VM_MAX_DEFERRED_IRQFDS];
	unsigned int nr_deferred_irqfds;
};

/*
 * Assert (level=1) or deassert (0) interrupt line gsi: on x86 an IOAPIC pin
 * (the PIC's too below 16), on arm64 an SPI number.
 */
int vm_set_irq(struct vm *vm, unsigned int gsi, int level);

/* Pulse an edge-triggered line: raise then lower. */
int vm_pulse_irq(struct vm *vm, unsigned int gsi);

/*
 * Register an eventfd that KVM signals when the guest writes `datamatch`
 * (len bytes) to MMIO address addr.  Returns 0 or -errno (-ENOSYS when the
 * host lacks ioeventfd; the caller then falls back to the MMIO exit path).
 */
int vm_add_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd);
int vm_del_ioeventfd(struct vm *vm, uint64_t addr, uint32_t len, uint64_t datamatch, int efd);

/*
 * Writing 1 to efd injects an edge on gsi (KVM_IRQFD).  With resample_fd >=
 * 0 the line is level-triggered and KVM signals resample_fd on guest EOI.
 */
int vm_add_irqfd(struct vm *vm, unsigned int gsi, int efd, int resample_fd);

/*
 * The interrupt controller takes irqfds from now on; those asked for
 * earlier are registered now (the architecture calls this: x86 once its
 * irqchip exists, arm64 once its vGIC is initialised after the vCPUs).
 * 0, or -1 after logging why.
 */
int vm_irqchip_ready(struct vm *vm);

/* Append " text" to the guest kernel command line (before the kernel is loaded). */
int vm_cmdline_append(struct vm *vm, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* Ask every vCPU to stop; the first reason wins. Safe from any thread. */
void vm_request_stop(struct vm *vm, enum vm_stop_reason reason, int status);

/*
 * Register a --stats reporter for the device named `device` (which must
 * outlive the VM); called for every report (at exit, on SIGUSR1).  Several
 * reporters may share one device (the virtio transport and the device).
 */
void vm_register_stats(struct vm *vm, const char *device, vm_stats_fn fn, void *opaque);

/* Process exit status for the recorded stop reason. */
int vm_exit_status(const struct vm *vm);

/*
 * Why minivmm stopped, for its final line ("minivmm: stopped: ..."): the
 * recorded stop reason, and exit_status, what the process exits with (an
 * error after the stop, such as a --stats report that could not be written,
 * makes it EXIT_STATUS_ERROR), with the last error logged (log_last_error)
 * as the reason for an error.  vm->stop_reason VM_RUNNING means the VM never
 * ran: a start-up failure.  Always NUL-terminates buf.
 */
void vm_describe_stop(const struct vm *vm, int exit_status, char *buf, size_t size);

/*
 * The final line's text for an error that stops minivmm ("error: <the last
 * logged error>; exit status N"): vm_describe_stop()'s, and that of a thread
 * that must end the process itself (a seccomp filter it cannot install).
 */
void vm_describe_error(int exit_status, char *buf, size_t size);

#endif

#include "vcpu.h"

#include <errno.h>
#include <linux/kvm.h>
#include <signal.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "cpu_affinity.h"
#include "kvm_trace.h"
#include "log.h"
#include "threads.h"
#include "vcpu_pause.h"

/* vCPU 0 has reached its first KVM_RUN (or ended before it): vcpus_wait_started(). */
static pthread_mutex_t vcpu_started_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t vcpu_started_cond = PTHREAD_COND_INITIALIZER;
static bool vcpu_started;

static void vcpus_mark_started(void)
{
	pthread_mutex_lock(&vcpu_started_lock);
	vcpu_started = true;
	pthread_cond_broadcast(&vcpu_started_cond);
	pthread_mutex_unlock(&vcpu_started_lock);
}

void vcpus_wait_started(void)
{
	pthread_mutex_lock(&vcpu_started_lock);
	while (!vcpu_started)
		pthread_cond_wait(&vcpu_started_cond, &vcpu_started_lock);
	pthread_mutex_unlock(&vcpu_started_lock);
}

static void record_startup_cpu_time(struct vm *vm)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	atomic_store(&vm->startup_cpu_us, ts.tv_sec * 1000000L + ts.tv_nsec / 1000);
	log_debug("start-up: first KVM_RUN at %6ld us CPU", atomic_load(&vm->startup_cpu_us));
}

int vcpus_create(struct vm *vm)
{
	vm->nr_vcpus = vm->cfg->cpus;
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		struct vcpu *vcpu = &vm->vcpus[i];

		vcpu->vm = vm;
		vcpu->id = i;
		vcpu->fd = ioctl(vm->vm_fd, KVM_CREATE_VCPU, i);
		if (vcpu->fd < 0) {
			log_errno("KVM_CREATE_VCPU %u", i);
			return -1;
		}
		vcpu->run =
		    mmap(NULL, vm->run_size, PROT_READ | PROT_WRITE, MAP_SHARED, vcpu->fd, 0);
		if (vcpu->run == MAP_FAILED) {
			log_errno("mmap kvm_run of vCPU %u", i);
			return -1;
		}
		if (arch_vcpu_init(vcpu) < 0)
			return -1;
	}
	return 0;
}

static void handle_io(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint8_t *data = (uint8_t *)run + run->io.data_offset;
	bool is_write = run->io.direction == KVM_EXIT_IO_OUT;
	uint64_t end = (uint64_t)run->io.data_offset + (uint64_t)run->io.count * run->io.size;

	atomic_fetch_add_explicit(&vcpu->exits_io, 1, memory_order_relaxed);
	/* KVM hands over at most one page of string I/O per exit; should it
	 * ever describe more than it mapped, do nothing rather than read or
	 * write past the mapping. */
	if (run->io.size > 8 || end > (uint64_t)vcpu->vm->run_size) {
		log_error("vCPU %u: port I/O exit describes %u x %u bytes at offset %llu, beyond "
			  "the %d-byte kvm_run mapping; ignored",
			  vcpu->id, run->io.count, run->io.size,
			  (unsigned long long)run->io.data_offset, vcpu->vm->run_size);
		return;
	}
	/* String I/O (rep outsb) arrives as count consecutive accesses. */
	for (uint32_t i = 0; i < run->io.count; i++)
		bus_dispatch(&vcpu->vm->pio, run->io.port, data + i * run->io.size, run->io.size,
			     is_write);
}

static void handle_mmio(struct vcpu *vcpu)
{
	struct kvm_run *run = vcpu->run;
	uint32_t len = run->mmio.len;

	atomic_fetch_add_explicit(&vcpu->exits_mmio, 1, memory_order_relaxed);
	if (len > sizeof(run->mmio.data))
		len = sizeof(run->mmio.data);
	if (!bus_dispatch(&vcpu->vm->mmio, run->mmio.phys_addr, run->mmio.data, len,
			  run->mmio.is_write))
		log_debug("vCPU %u: %s of %u bytes at unassigned MMIO address 0x%llx", vcpu->id,
			  run->mmio.is_write ? "write" : "read", len,
			  (unsigned long long)run->mmio.phys_addr);
}

static void handle_system_event(struct vcpu *vcpu)
{
	switch (vcpu->run->system_event.type) {
	case KVM_SYSTEM_EVENT_SHUTDOWN:
		vm_request_stop(vcpu->vm, VM_STOP_POWEROFF, 0);
		break;
	case KVM_SYSTEM_EVENT_RESET:
		vm_request_stop(vcpu->vm, VM_STOP_RESET, 0);
		break;
	default:
		log_error("vCPU %u: system event %u", vcpu->id, vcpu->run->system_event.type);
		vm_request_stop(vcpu->vm, VM_STOP_ERROR, 0);
	}
}

static void fatal_exit(struct vcpu *vcpu, const char *what)
{
	log_error("vCPU %u: %s", vcpu->id, what);
	arch_dump_vcpu(vcpu, stderr);
	vm_request_stop(vcpu->vm, VM_STOP_ERROR, 0);
}

/* Handles the exit KVM_RUN just returned; false when this vCPU must stop. */
static bool vcpu_handle_exit(struct vcpu *vcpu)
{
	atomic_fetch_add_explicit(&vcpu->exits_total, 1, memory_order_relaxed);
	switch (vcpu->run->exit_reason) {
	case KVM_EXIT_IO:
		handle_io(vcpu);
		return true;
	case KVM_EXIT_MMIO:
		handle_mmio(vcpu);
		return true;
	case KVM_EXIT_INTR:
		return true;
	case KVM_EXIT_SHUTDOWN:
		log_info("vCPU %u: triple fault, stopping the VM", vcpu->id);
		arch_dump_vcpu(vcpu, stderr);
		vm_request_stop(vcpu->vm, VM_STOP_TRIPLE_FAULT, 0);
		return false;
	case KVM_EXIT_SYSTEM_EVENT:
		handle_system_event(vcpu);
		return false;
	case KVM_EXIT_HLT:
		/* Only without an in-kernel LAPIC; a halted CPU with nothing
		 * to wake it is as good as off. */
		atomic_fetch_add_explicit(&vcpu->exits_other, 1, memory_order_relaxed);
		fatal_exit(vcpu, "halted with interrupts that cannot arrive");
		return false;
	default:
		atomic_fetch_add_explicit(&vcpu->exits_other, 1, memory_order_relaxed);
		if (arch_handle_exit(vcpu))
			return true;
		fatal_exit(vcpu, "unhandled exit");
		return false;
	}
}

static void vcpu_run_loop(struct vcpu *vcpu)
{
	struct vm *vm = vcpu->vm;

	if (vcpu->id == 0) {
		record_startup_cpu_time(vm);
		vcpus_mark_started();
	}
	while (atomic_load(&vm->stop_reason) == VM_RUNNING) {
		vcpu_pause_point(vcpu); /* the control socket's "pause" holds it here */
		if (atomic_load(&vm->stop_reason) != VM_RUNNING)
			break;
		if (ioctl(vcpu->fd, KVM_RUN, 0) < 0) {
			if (errno == EINTR || errno == EAGAIN) {
				vcpu->run->immediate_exit = 0;
				/* The clear before the next look at stop/pause: a kick sent
				 * after it finds immediate_exit set again, one sent before
				 * it has its request seen. */
				atomic_thread_fence(memory_order_seq_cst);
				continue;
			}
			log_errno("vCPU %u: KVM_RUN", vcpu->id);
			vm_request_stop(vm, VM_STOP_ERROR, 0);
			return;
		}
		if (!vcpu_handle_exit(vcpu))
			return;
	}
}

/* Placed, then id and in-kernel exit counting, then named and registered (and filtered). */
static void vcpu_thread_setup(struct vcpu *vcpu)
{
	char name[16];

	cpu_affinity_place_vcpu(vcpu); /* first: found by its name, it is already placed */
	atomic_store(&vcpu->tid, (int)gettid());
	/* Before registering, which installs the seccomp filter: it has no perf_event_open. */
	kvm_trace_attach_vcpu(vcpu);
	snprintf(name, sizeof(name), "vcpu%u", vcpu->id);
	threads_register_self(name, THREAD_VCPU);
}

static void *vcpu_thread(void *arg)
{
	struct vcpu *vcpu = arg;
	sigset_t set;

	/*
	 * Only the kick signal reaches vCPU threads; SIGINT/SIGTERM go to main.
	 * SIGSYS stays open: a blocked one would kill without the seccomp log line.
	 */
	sigfillset(&set);
	sigdelset(&set, VCPU_KICK_SIGNAL);
	sigdelset(&set, SIGSYS);
	pthread_sigmask(SIG_SETMASK, &set, NULL);
	vcpu_thread_setup(vcpu);
	vcpu_run_loop(vcpu);
	vcpu_pause_thread_ended();
	if (vcpu->id == 0)
		vcpus_mark_started(); /* also when it ended before its first KVM_RUN */
	threads_exit_self();
	return NULL;
}

static void kick_handler(int sig)
{
	(void)sig;
}

int vcpus_start(struct vm *vm)
{
	struct sigaction sa = {.sa_handler = kick_handler};
	sigset_t set;

	sigemptyset(&sa.sa_mask);
	sigaction(VCPU_KICK_SIGNAL, &sa, NULL);
	/* Block the kick in the main thread so it is never lost there. */
	sigemptyset(&set);
	sigaddset(&set, VCPU_KICK_SIGNAL);
	pthread_sigmask(SIG_BLOCK, &set, NULL);
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		int r = pthread_create(&vm->vcpus[i].thread, NULL, vcpu_thread, &vm->vcpus[i]);

		if (r) {
			errno = r;
			log_errno("pthread_create for vCPU %u", i);
			vm_request_stop(vm, VM_STOP_ERROR, 0);
			for (unsigned int j = 0; j < i; j++)
				pthread_kill(vm->vcpus[j].thread, VCPU_KICK_SIGNAL);
			for (unsigned int j = 0; j < i; j++)
				pthread_join(vm->vcpus[j].thread, NULL);
			return -1;
		}
	}
	return 0;
}

void vcpus_stop(struct vm *vm)
{
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		/* immediate_exit covers a kick that lands just before KVM_RUN. */
		vm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vm->vcpus[i].thread, VCPU_KICK_SIGNAL);
	}
	vcpus_pause_wake_for_stop(); /* a paused vCPU is parked, not in KVM_RUN */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++)
		pthread_join(vm->vcpus[i].thread, NULL);
}

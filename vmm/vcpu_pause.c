/*
 * The pause gate of the vCPU run loop (vcpu_pause.h).
 *
 * Kicking a vCPU out of KVM_RUN is the same as for a stop (vcpus_stop()):
 * set immediate_exit, which covers a kick landing just before KVM_RUN, and
 * send the kick signal, which interrupts a KVM_RUN in progress.  The run
 * loop clears immediate_exit after KVM_RUN returned EINTR and only then
 * looks at the gate (with a full fence between), so a pause asked for at
 * any moment is seen before the next guest instruction runs.
 */
#include "vcpu_pause.h"

#include <errno.h>
#include <linux/kvm.h>
#include <pthread.h>
#include <signal.h>
#include <time.h>

#include "vcpu.h"

static pthread_once_t pause_once = PTHREAD_ONCE_INIT;
static pthread_mutex_t pause_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t pause_parked_cond; /* main waits for vCPUs to park (monotonic clock) */
static pthread_cond_t pause_resume_cond; /* parked vCPUs wait for resume or stop */
static atomic_bool pause_requested;
static unsigned int pause_parked; /* under pause_lock: vCPU threads in the gate */
static unsigned int pause_ended;  /* under pause_lock: vCPU threads that left their loop */

static void vcpus_pause_init(void)
{
	pthread_condattr_t attr;

	pthread_condattr_init(&attr);
	pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
	pthread_cond_init(&pause_parked_cond, &attr);
	pthread_condattr_destroy(&attr);
	pthread_cond_init(&pause_resume_cond, NULL);
}

/* Under pause_lock. */
static bool vcpus_all_parked(const struct vm *vm)
{
	return pause_parked + pause_ended >= vm->nr_vcpus;
}

static bool vcpus_vm_running(const struct vm *vm)
{
	return atomic_load(&((struct vm *)vm)->stop_reason) == VM_RUNNING;
}

bool vcpus_pause(struct vm *vm, unsigned int timeout_ms)
{
	struct timespec deadline;
	bool parked;

	pthread_once(&pause_once, vcpus_pause_init);
	atomic_store(&pause_requested, true); /* seq_cst: before immediate_exit below */
	for (unsigned int i = 0; i < vm->nr_vcpus; i++) {
		vm->vcpus[i].run->immediate_exit = 1;
		pthread_kill(vm->vcpus[i].thread, VCPU_KICK_SIGNAL);
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout_ms / 1000;
	deadline.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
	if (deadline.tv_nsec >= 1000000000L) {
		deadline.tv_sec++;
		deadline.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&pause_lock);
	while (!vcpus_all_parked(vm) && vcpus_vm_running(vm))
		if (pthread_cond_timedwait(&pause_parked_cond, &pause_lock, &deadline) == ETIMEDOUT)
			break;
	parked = vcpus_all_parked(vm) || !vcpus_vm_running(vm);
	pthread_mutex_unlock(&pause_lock);
	return parked;
}

void vcpus_resume(struct vm *vm)
{
	(void)vm;
	pthread_once(&pause_once, vcpus_pause_init);
	pthread_mutex_lock(&pause_lock);
	atomic_store(&pause_requested, false);
	pthread_cond_broadcast(&pause_resume_cond);
	pthread_mutex_unlock(&pause_lock);
}

enum vcpus_run_state vcpus_run_state(const struct vm *vm)
{
	enum vcpus_run_state state = VCPUS_RUNNING;

	pthread_mutex_lock(&pause_lock);
	if (atomic_load(&pause_requested))
		state = vcpus_all_parked(vm) ? VCPUS_PAUSED : VCPUS_PAUSING;
	pthread_mutex_unlock(&pause_lock);
	return state;
}

void vcpu_pause_point(struct vcpu *vcpu)
{
	if (!atomic_load(&pause_requested))
		return;
	pthread_once(&pause_once, vcpus_pause_init);
	pthread_mutex_lock(&pause_lock);
	pause_parked++;
	pthread_cond_broadcast(&pause_parked_cond);
	while (atomic_load(&pause_requested) && vcpus_vm_running(vcpu->vm))
		pthread_cond_wait(&pause_resume_cond, &pause_lock);
	pause_parked--;
	pthread_mutex_unlock(&pause_lock);
}

void vcpu_pause_thread_ended(void)
{
	pthread_once(&pause_once, vcpus_pause_init);
	pthread_mutex_lock(&pause_lock);
	pause_ended++;
	pthread_cond_broadcast(&pause_parked_cond);
	pthread_mutex_unlock(&pause_lock);
}

void vcpus_pause_wake_for_stop(void)
{
	pthread_once(&pause_once, vcpus_pause_init);
	pthread_mutex_lock(&pause_lock);
	pthread_cond_broadcast(&pause_resume_cond);
	pthread_cond_broadcast(&pause_parked_cond);
	pthread_mutex_unlock(&pause_lock);
}

void vcpus_pause_reset(void)
{
	pthread_mutex_lock(&pause_lock);
	atomic_store(&pause_requested, false);
	pause_parked = 0;
	pause_ended = 0;
	pthread_mutex_unlock(&pause_lock);
}

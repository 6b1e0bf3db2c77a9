/*
 * Pausing the vCPUs (the control socket's "pause" and "resume").
 *
 * A pause holds every vCPU thread outside KVM_RUN, parked on a condition
 * variable at the top of its run loop (vcpu_pause_point()), until resume or
 * a stop.  The guest's clock keeps running on the host (KVM's clocks are not
 * frozen), but no guest instruction runs and no exit comes back: the vCPU
 * exit counters of --stats stay still.  I/O threads keep running, so
 * requests already handed to a device may still complete.
 *
 * One VM per process: the state is the file's own.
 */
#ifndef MINIVMM_VCPU_PAUSE_H
#define MINIVMM_VCPU_PAUSE_H

#include <stdbool.h>

#include "vm.h"

enum vcpus_run_state {
	VCPUS_RUNNING, /* no pause asked for */
	VCPUS_PAUSING, /* asked for; some vCPU has not parked yet */
	VCPUS_PAUSED,  /* every vCPU thread is parked (or has ended) */
};

/*
 * Ask every vCPU to park, kick each out of KVM_RUN, and wait up to
 * timeout_ms for all of them.  true when all are parked (or ended, or the
 * VM is stopping); false when some are still on their way (the pause stays
 * asked for: vcpus_run_state() says VCPUS_PAUSING until they get there).
 */
bool vcpus_pause(struct vm *vm, unsigned int timeout_ms);

/* Release parked vCPUs; they go back into KVM_RUN.  Returns at once. */
void vcpus_resume(struct vm *vm);

enum vcpus_run_state vcpus_run_state(const struct vm *vm);

/* In a vCPU thread before each KVM_RUN: parks while a pause is asked for and the VM runs. */
void vcpu_pause_point(struct vcpu *vcpu);

/* A vCPU thread has left its run loop for good: it counts as parked from now on. */
void vcpu_pause_thread_ended(void);

/* Wake parked vCPUs so that they see the VM stopping (after vm_request_stop). */
void vcpus_pause_wake_for_stop(void);

/* Forget every pause and ended thread (unit tests). */
void vcpus_pause_reset(void);

#endif

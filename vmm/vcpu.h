/* vCPU threads and the KVM_RUN loop (vmm/vcpu.c). */
#ifndef MINIVMM_VCPU_H
#define MINIVMM_VCPU_H

#include <signal.h>

#include "vm.h"

/* Sent to a vCPU thread to interrupt KVM_RUN; the handler does nothing. */
#define VCPU_KICK_SIGNAL SIGUSR2 /* SIGUSR1 asks for a --stats snapshot */

/* Create every vCPU (KVM_CREATE_VCPU, kvm_run mapping, arch setup). */
int vcpus_create(struct vm *vm);

/* Start one thread per vCPU. */
int vcpus_start(struct vm *vm);

/* Kick every vCPU out of KVM_RUN and join the threads (after vm_request_stop). */
void vcpus_stop(struct vm *vm);

/* Until vCPU 0 has entered KVM_RUN for the first time, or ended without. */
void vcpus_wait_started(void);

#endif

/*
 * The control socket's commands (api_commands.h).
 *
 * pause/resume on a VM that is not running/paused, and every command on a
 * VM that is stopping, are errors rather than no-ops: a script that pauses
 * twice has lost track of the VM and should hear it.  "stop" asks the guest
 * to power off (arch_request_poweroff(): an ACPI power button) and forces
 * the stop (VM_STOP_API) after timeout_s; a guest that cannot be asked, a
 * paused guest (which could not react) and timeout_s 0 are stopped at once.
 * A guest that powers off when asked ends as any guest power-off does.
 */
#include "api_commands.h"

#include <json-c/json.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "arch/arch.h"
#include "json_number.h"
#include "log.h"
#include "stats.h"
#include "util.h"
#include "vcpu_pause.h"

static double api_seconds_since(const struct timespec *t)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (double)(now.tv_sec - t->tv_sec) + (double)(now.tv_nsec - t->tv_nsec) / 1e9;
}

/* Seconds to the millisecond: what a client can use. */
static struct json_object *api_json_seconds(double seconds)
{
	return json_fixed_double(seconds, 3);
}

static bool api_vm_stopping(const struct api_vm *api)
{
	return api->stop_asked || atomic_load(&api->vm->stop_reason) != VM_RUNNING;
}

/* Pause and resume change nothing on a VM that is on its way out: an error says so. */
static bool api_refuse_when_stopping(const struct api_vm *api, char *err, size_t size)
{
	if (!api_vm_stopping(api))
		return false;
	snprintf(err, size, "the VM is stopping");
	return true;
}

static const char *api_state_name(const struct api_vm *api)
{
	if (api_vm_stopping(api))
		return "stopping";
	switch (vcpus_run_state(api->vm)) {
	case VCPUS_PAUSING:
		return "pausing";
	case VCPUS_PAUSED:
		return "paused";
	case VCPUS_RUNNING:
		break;
	}
	return "running";
}

static void api_add_state(const struct api_vm *api, struct json_object *reply)
{
	json_object_object_add(reply, "state", json_object_new_string(api_state_name(api)));
}

/* ---- the commands ---- */

static int api_cmd_status(void *opaque, struct json_object *req, struct json_object *reply,
			  char *err, size_t size)
{
	struct api_vm *api = opaque;

	(void)req, (void)err, (void)size;
	api_add_state(api, reply);
	json_object_object_add(reply, "pid", json_object_new_int64(getpid()));
	json_object_object_add(reply, "uptime_s",
			       api_json_seconds(api_seconds_since(&api->started)));
	json_object_object_add(reply, "vcpus", json_object_new_int64(api->vm->nr_vcpus));
	if (api->vm->cfg)
		json_object_object_add(reply, "mem_bytes",
				       json_object_new_uint64(api->vm->cfg->mem_size));
	json_object_object_add(reply, "version", json_object_new_string(MINIVMM_VERSION));
	if (api->stop_asked && atomic_load(&api->vm->stop_reason) == VM_RUNNING)
		json_object_object_add(reply, "forced_stop_in_s",
				       api_json_seconds(-api_seconds_since(&api->stop_deadline)));
	return 0;
}

static int api_cmd_stats(void *opaque, struct json_object *req, struct json_object *reply,
			 char *err, size_t size)
{
	struct api_vm *api = opaque;

	(void)req, (void)err, (void)size;
	json_object_object_add(reply, "stats", stats_build(api->vm, false));
	return 0;
}

static int api_cmd_pause(void *opaque, struct json_object *req, struct json_object *reply,
			 char *err, size_t size)
{
	struct api_vm *api = opaque;

	(void)req;
	if (api_refuse_when_stopping(api, err, size))
		return -1;
	if (vcpus_run_state(api->vm) == VCPUS_PAUSED) {
		snprintf(err, size, "the VM is already paused");
		return -1;
	}
	if (vcpus_pause(api->vm, API_PAUSE_WAIT_MS))
		log_info("control socket: VM paused");
	else
		log_info("control socket: pausing: a vCPU has not left the guest within %d ms",
			 API_PAUSE_WAIT_MS);
	api_add_state(api, reply);
	return 0;
}

static int api_cmd_resume(void *opaque, struct json_object *req, struct json_object *reply,
			  char *err, size_t size)
{
	struct api_vm *api = opaque;

	(void)req;
	if (api_refuse_when_stopping(api, err, size))
		return -1;
	if (vcpus_run_state(api->vm) == VCPUS_RUNNING) {
		snprintf(err, size, "the VM is not paused");
		return -1;
	}
	vcpus_resume(api->vm);
	log_info("control socket: VM resumed");
	api_add_state(api, reply);
	return 0;
}

/* Stop now, as the control socket asked (VM_STOP_API); why goes to the log and the reply. */
static void api_force_stop(struct api_vm *api, struct json_object *reply, const char *why)
{
	log_info("control socket: stop: %s; stopping the VM", why);
	vm_request_stop(api->vm, VM_STOP_API, 0);
	if (reply) {
		json_object_object_add(reply, "state", json_object_new_string("stopping"));
		json_object_object_add(reply, "guest_asked", json_object_new_boolean(0));
		json_object_object_add(reply, "forced", json_object_new_boolean(1));
		json_object_object_add(reply, "reason", json_object_new_string(why));
	}
}

static int api_cmd_stop(void *opaque, struct json_object *req, struct json_object *reply, char *err,
			size_t size)
{
	struct api_vm *api = opaque;
	struct json_object *t;
	int64_t timeout = API_STOP_TIMEOUT_DEFAULT_S;
	struct timespec deadline;

	if (json_object_object_get_ex(req, "timeout_s", &t)) {
		if (!json_object_is_type(t, json_type_int) ||
		    (timeout = json_object_get_int64(t)) < 0 || timeout > API_STOP_TIMEOUT_MAX_S) {
			snprintf(err, size,
				 "timeout_s must be a whole number of seconds from 0 to %d",
				 API_STOP_TIMEOUT_MAX_S);
			return -1;
		}
	}
	if (atomic_load(&api->vm->stop_reason) != VM_RUNNING) {
		api_add_state(api, reply);
		return 0;
	}
	if (vcpus_run_state(api->vm) != VCPUS_RUNNING) {
		api_force_stop(api, reply, "the VM is paused, so the guest could not power off");
		return 0;
	}
	if (timeout == 0) {
		api_force_stop(api, reply, "timeout_s is 0");
		return 0;
	}
	clock_gettime(CLOCK_MONOTONIC, &deadline);
	deadline.tv_sec += timeout;
	if (api->stop_asked) {
		/* Asked already: a shorter timeout brings the forced stop forward. */
		if (deadline.tv_sec < api->stop_deadline.tv_sec ||
		    (deadline.tv_sec == api->stop_deadline.tv_sec &&
		     deadline.tv_nsec < api->stop_deadline.tv_nsec))
			api->stop_deadline = deadline;
	} else if (!api->request_poweroff(api->vm)) {
		api_force_stop(
		    api, reply,
		    "the guest cannot be asked to power off (it has no ACPI power button)");
		return 0;
	} else {
		api->stop_asked = true;
		api->stop_deadline = deadline;
		log_info("control socket: stop: asked the guest to power off; forcing it in %lld s",
			 (long long)timeout);
	}
	json_object_object_add(reply, "state", json_object_new_string("stopping"));
	json_object_object_add(reply, "guest_asked", json_object_new_boolean(1));
	json_object_object_add(reply, "forced_stop_in_s",
			       api_json_seconds(-api_seconds_since(&api->stop_deadline)));
	return 0;
}

static const char *const api_stop_fields[] = {"timeout_s", NULL};

static const struct api_command api_commands[] = {
    {"status", NULL, api_cmd_status},	     {"stats", NULL, api_cmd_stats},
    {"pause", NULL, api_cmd_pause},	     {"resume", NULL, api_cmd_resume},
    {"stop", api_stop_fields, api_cmd_stop},
};

struct api_handlers api_vm_handlers(struct api_vm *api)
{
	return (struct api_handlers){
	    .cmds = api_commands, .nr_cmds = ARRAY_SIZE(api_commands), .opaque = api};
}

/* ---- the main loop's side ---- */

void api_init(struct api_vm *api, struct vm *vm)
{
	*api = (struct api_vm){.vm = vm, .request_poweroff = arch_request_poweroff};
	clock_gettime(CLOCK_MONOTONIC, &api->started);
}

static struct api_vm *api_at_exit;

static void api_end_at_exit(void)
{
	if (api_at_exit)
		api_end(api_at_exit);
}

int api_start(struct api_vm *api, struct vm *vm, const char *path)
{
	struct api_handlers h;
	char err[512];

	api_init(api, vm);
	h = api_vm_handlers(api);
	api->server = api_server_open(path, &h, err, sizeof(err));
	if (!api->server) {
		log_error("%s", err);
		return -1;
	}
	api_at_exit = api;
	atexit(api_end_at_exit);
	log_debug("control socket: listening on %s", path);
	return 0;
}

unsigned int api_pollfds(struct api_vm *api, struct pollfd *fds)
{
	return api->server ? api_server_pollfds(api->server, fds) : 0;
}

int api_timeout_ms(const struct api_vm *api)
{
	double left;

	if (!api->stop_asked || atomic_load(&api->vm->stop_reason) != VM_RUNNING)
		return -1;
	left = -api_seconds_since(&api->stop_deadline);
	return left <= 0 ? 0 : (int)(left * 1000) + 1;
}

void api_process(struct api_vm *api, const struct pollfd *fds, unsigned int n)
{
	if (api_timeout_ms(api) == 0)
		api_force_stop(api, NULL, "the guest did not power off in time");
	if (api->server)
		api_server_process(api->server, fds, n);
}

void api_end(struct api_vm *api)
{
	api_server_close(api->server);
	api->server = NULL;
}

/*
 * The control socket's commands (--api-socket; docs/usage.md, "Control
 * socket"): status, stats, pause, resume and stop, served by vmm/api_server.c
 * from the main thread's poll loop (vmm/main.c wait_for_stop()).
 */
#ifndef MINIVMM_API_COMMANDS_H
#define MINIVMM_API_COMMANDS_H

#include <poll.h>
#include <stdbool.h>
#include <time.h>

#include "api_server.h"
#include "vm.h"

#define API_STOP_TIMEOUT_DEFAULT_S 10
#define API_STOP_TIMEOUT_MAX_S	   600
#define API_PAUSE_WAIT_MS	   1000 /* how long "pause" waits for the vCPUs to park */

struct api_vm {
	struct vm *vm;
	struct api_server *server;		 /* NULL: no socket (tests) */
	struct timespec started;		 /* for status's uptime_s */
	bool (*request_poweroff)(struct vm *vm); /* arch_request_poweroff(); tests fake it */
	bool stop_asked;			 /* the guest was asked to power off */
	struct timespec stop_deadline;		 /* then: when the stop is forced */
};

/*
 * Open the control socket at path for vm and have it removed at exit.  Call
 * before any other thread exists (the socket is made 0600 through umask).
 * 0, or -1 with the reason logged.
 */
int api_start(struct api_vm *api, struct vm *vm, const char *path);

/* The same state without a socket (tests). */
void api_init(struct api_vm *api, struct vm *vm);

/* The command table, for api_handle_request() (tests). */
struct api_handlers api_vm_handlers(struct api_vm *api);

/* Poll entries (at most API_SERVER_POLLFDS); 0 without a socket. */
unsigned int api_pollfds(struct api_vm *api, struct pollfd *fds);

/* poll()'s timeout: until an asked-for stop is forced, or -1 (none pending). */
int api_timeout_ms(const struct api_vm *api);

/* After poll(): force a stop whose time is up, then serve the n entries. */
void api_process(struct api_vm *api, const struct pollfd *fds, unsigned int n);

/* Close the socket and remove it (also run at exit). */
void api_end(struct api_vm *api);

#endif

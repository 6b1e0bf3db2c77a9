/*
 * The control socket's transport and protocol (docs/usage.md, "Control
 * socket"): a Unix stream socket served from the main thread's poll loop,
 * one JSON object per line in each direction.  What the commands do is the
 * caller's (vmm/api_commands.c); this file frames lines, bounds every
 * client, parses and checks requests and turns each into exactly one reply
 * line.
 *
 * Never blocks: the listening socket and every client are non-blocking,
 * input is read in bounded pieces, output is queued and a client whose
 * queue grows past API_OUT_MAX is dropped.
 */
#ifndef MINIVMM_API_SERVER_H
#define MINIVMM_API_SERVER_H

#include <poll.h>
#include <stddef.h>

struct json_object;

#define API_LINE_MAX	4096	  /* one request, its newline not counted */
#define API_CLIENTS_MAX 8	  /* connections served at once */
#define API_OUT_MAX	(1 << 20) /* unsent reply bytes a client may leave queued */
#define API_JSON_DEPTH	8	  /* nesting a request may have */

/* Poll entries the server needs at most: the listening socket and each client. */
#define API_SERVER_POLLFDS (1 + API_CLIENTS_MAX)

/*
 * One command.  run fills reply (an object that already holds "ok": true)
 * and returns 0, or returns -1 with a message for the client in err.
 * fields: the request fields it takes besides "cmd", NULL-terminated
 * (NULL: none); any other field is refused before run is called.
 */
struct api_command {
	const char *name;
	const char *const *fields;
	int (*run)(void *opaque, struct json_object *request, struct json_object *reply, char *err,
		   size_t err_size);
};

struct api_handlers {
	const struct api_command *cmds;
	size_t nr_cmds;
	void *opaque;
};

/*
 * The reply object to one request line (len bytes, no newline): the
 * command's reply, or {"ok": false, "error": "..."} for a line that is not
 * a JSON object, has no string "cmd", names an unknown command or a field
 * the command does not take, or that the command refused.  Caller puts it.
 */
struct json_object *api_handle_request(const struct api_handlers *h, const char *line, size_t len);

/* {"ok": false, "error": msg}. */
struct json_object *api_error_reply(const char *msg);

struct api_server;

/*
 * Listen on a new Unix socket at path, created with permissions 0600.  An
 * existing path is replaced only if it is a socket nobody listens on (left
 * by a minivmm that was killed); anything else is refused.  path NULL: no
 * socket, clients come only through api_server_add_client() (tests).
 * Returns the server, or NULL with the reason in err.
 */
struct api_server *api_server_open(const char *path, const struct api_handlers *h, char *err,
				   size_t err_size);

/*
 * Serve a connected stream socket (made non-blocking here); 0, or -1 when
 * the server is full (fd is then left to the caller).
 */
int api_server_add_client(struct api_server *s, int fd);

/* Fill fds (at least API_SERVER_POLLFDS entries) for poll(); returns how many. */
unsigned int api_server_pollfds(struct api_server *s, struct pollfd *fds);

/* After poll(): accept, read, answer and write what the n entries report. */
void api_server_process(struct api_server *s, const struct pollfd *fds, unsigned int n);

/* Clients being served now. */
unsigned int api_server_clients(const struct api_server *s);

/* Close every client and the listening socket and remove the socket file (if still ours). */
void api_server_close(struct api_server *s);

#endif

/*
 * The control socket's transport and protocol (api_server.h).
 *
 * Everything a client sends is untrusted input: lines are bounded
 * (API_LINE_MAX; a longer one is answered with an error and skipped up to
 * its newline), JSON nesting is bounded (API_JSON_DEPTH), the number of
 * clients is bounded (one more is told so and disconnected) and so is what
 * a client may leave unread (API_OUT_MAX; over it the client is dropped).
 * Nothing here blocks the main thread: sockets are non-blocking and each
 * poll round reads at most one buffer per client.
 */
#include "api_server.h"

#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "log.h"
#include "util.h"

/* How much of a client's own text (a command or field name) an error repeats. */
#define API_ECHO_MAX 64

struct api_client {
	int fd;		 /* -1: free slot */
	bool eof;	 /* the peer sends no more; closed once its replies are out */
	bool discarding; /* inside an over-long line: dropping bytes up to its newline */
	size_t in_len;
	char in[API_LINE_MAX];
	char *out; /* replies not yet written: out[out_start..out_end) */
	size_t out_start, out_end, out_cap;
};

struct api_server {
	int listen_fd; /* -1 without a socket (tests) */
	char *path;
	dev_t dev; /* the socket file we made, so that we remove only it */
	ino_t ino;
	bool accept_stalled; /* accept failed (no free descriptor): wait for a client to go */
	struct api_handlers h;
	struct api_client clients[API_CLIENTS_MAX];
	int poll_client[API_SERVER_POLLFDS]; /* per pollfd: client index, -1 the listener */
	unsigned int nr_polled;
};

/* ---- requests ---- */

struct json_object *api_error_reply(const char *msg)
{
	struct json_object *o = json_object_new_object();

	json_object_object_add(o, "ok", json_object_new_boolean(0));
	json_object_object_add(o, "error", json_object_new_string(msg));
	return o;
}

/* s cut to API_ECHO_MAX bytes at a UTF-8 character boundary, into buf. */
static const char *api_echo(const char *s, char *buf, size_t size)
{
	size_t n = strlen(s);

	if (n >= size)
		n = size - 1;
	if (n > API_ECHO_MAX)
		n = API_ECHO_MAX;
	if (n < strlen(s))
		while (n > 0 && ((unsigned char)s[n] & 0xc0) == 0x80)
			n--; /* s[n] continues a character: cut before that character */
	memcpy(buf, s, n);
	buf[n] = '\0';
	return buf;
}

static const struct api_command *api_find_command(const struct api_handlers *h, const char *name)
{
	for (size_t i = 0; i < h->nr_cmds; i++)
		if (!strcmp(h->cmds[i].name, name))
			return &h->cmds[i];
	return NULL;
}

static bool api_takes_field(const struct api_command *c, const char *key)
{
	if (!strcmp(key, "cmd"))
		return true;
	for (const char *const *f = c->fields; f && *f; f++)
		if (!strcmp(*f, key))
			return true;
	return false;
}

/* "status, stats, ..." */
static void api_command_names(const struct api_handlers *h, char *buf, size_t size)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < h->nr_cmds && used < size; i++) {
		int n = snprintf(buf + used, size - used, "%s%s", i ? ", " : "", h->cmds[i].name);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

/* The request object of a line, or NULL with the reason in err. */
static struct json_object *api_parse_line(const char *line, size_t len, char *err, size_t size)
{
	struct json_tokener *tok;
	struct json_object *req;
	enum json_tokener_error jerr;
	size_t end;

	if (memchr(line, '\0', len)) {
		snprintf(err, size, "the request contains a NUL byte");
		return NULL;
	}
	tok = json_tokener_new_ex(API_JSON_DEPTH);
	if (!tok) {
		snprintf(err, size, "out of memory");
		return NULL;
	}
	json_tokener_set_flags(tok, JSON_TOKENER_STRICT | JSON_TOKENER_VALIDATE_UTF8);
	req = json_tokener_parse_ex(tok, line, (int)len);
	jerr = json_tokener_get_error(tok);
	end = json_tokener_get_parse_end(tok);
	if (jerr == json_tokener_continue) {
		/* The end of the line ends a value such as a bare number. */
		req = json_tokener_parse_ex(tok, "", 1);
		jerr = json_tokener_get_error(tok);
		end = len;
	}
	json_tokener_free(tok);
	if (jerr == json_tokener_continue) {
		snprintf(err, size, "not valid JSON: the line ends inside the value");
		return NULL;
	}
	if (jerr != json_tokener_success) {
		snprintf(err, size, "not valid JSON: %s at byte %zu", json_tokener_error_desc(jerr),
			 end);
		json_object_put(req);
		return NULL;
	}
	for (; end < len; end++)
		if (!strchr(" \t\r", line[end])) {
			snprintf(err, size, "not valid JSON: more after the value, at byte %zu",
				 end);
			json_object_put(req);
			return NULL;
		}
	if (!json_object_is_type(req, json_type_object)) { /* JSON null is req NULL */
		snprintf(err, size,
			 "the request must be a JSON object such as {\"cmd\": \"status\"}");
		json_object_put(req);
		return NULL;
	}
	return req;
}

struct json_object *api_handle_request(const struct api_handlers *h, const char *line, size_t len)
{
	char err[512], echo[API_ECHO_MAX + 1], names[256];
	struct json_object *req, *cmd, *reply;
	const struct api_command *c;
	const char *name;

	req = api_parse_line(line, len, err, sizeof(err));
	if (!req)
		return api_error_reply(err);
	api_command_names(h, names, sizeof(names));
	if (!json_object_object_get_ex(req, "cmd", &cmd) ||
	    !json_object_is_type(cmd, json_type_string)) {
		snprintf(err, sizeof(err), "the request needs a string \"cmd\": one of %s", names);
		json_object_put(req);
		return api_error_reply(err);
	}
	name = json_object_get_string(cmd);
	c = api_find_command(h, name);
	if (!c) {
		snprintf(err, sizeof(err), "unknown command \"%s\" (known: %s)",
			 api_echo(name, echo, sizeof(echo)), names);
		json_object_put(req);
		return api_error_reply(err);
	}
	json_object_object_foreach(req, key, value)
	{
		(void)value;
		if (!api_takes_field(c, key)) {
			snprintf(err, sizeof(err), "command \"%s\" takes no field \"%s\"", c->name,
				 api_echo(key, echo, sizeof(echo)));
			json_object_put(req);
			return api_error_reply(err);
		}
	}
	reply = json_object_new_object();
	json_object_object_add(reply, "ok", json_object_new_boolean(1));
	err[0] = '\0';
	if (c->run(h->opaque, req, reply, err, sizeof(err)) < 0) {
		json_object_put(reply);
		reply = api_error_reply(err[0] ? err : "the command failed");
	}
	json_object_put(req);
	return reply;
}

/* ---- clients ---- */

static void api_client_close(struct api_server *s, struct api_client *c)
{
	if (c->fd < 0)
		return;
	close(c->fd);
	free(c->out);
	*c = (struct api_client){.fd = -1};
	s->accept_stalled = false; /* a descriptor is free again */
}

/* Drop a client that broke a bound or whose socket failed; the VM goes on. */
static void api_client_drop(struct api_server *s, struct api_client *c, const char *why)
{
	log_info("control socket: client disconnected: %s", why);
	api_client_close(s, c);
}

/* Write what is queued; -1 when the client had to be dropped. */
static int api_client_flush(struct api_server *s, struct api_client *c)
{
	while (c->out_start < c->out_end) {
		ssize_t n = write(c->fd, c->out + c->out_start, c->out_end - c->out_start);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			return 0;
		if (n <= 0) {
			/* EPIPE: it went away without reading; nothing to report. */
			if (errno == EPIPE || errno == ECONNRESET)
				api_client_close(s, c);
			else
				api_client_drop(s, c, strerror(errno));
			return -1;
		}
		c->out_start += (size_t)n;
	}
	c->out_start = c->out_end = 0;
	return 0;
}

/* Queue text and its newline; -1 when the client had to be dropped. */
static int api_client_queue(struct api_server *s, struct api_client *c, const char *text)
{
	size_t len = strlen(text), pending = c->out_end - c->out_start;

	if (pending + len + 1 > API_OUT_MAX) {
		api_client_drop(s, c, "it does not read its replies (over 1 MiB unread)");
		return -1;
	}
	if (c->out_end + len + 1 > c->out_cap) {
		size_t cap = c->out_cap ? c->out_cap : 4096;
		char *out;

		if (pending)
			memmove(c->out, c->out + c->out_start, pending);
		c->out_start = 0;
		c->out_end = pending;
		while (cap < pending + len + 1)
			cap *= 2;
		if (cap != c->out_cap) {
			out = realloc(c->out, cap);
			if (!out) {
				api_client_drop(s, c, "out of memory");
				return -1;
			}
			c->out = out;
			c->out_cap = cap;
		}
	}
	memcpy(c->out + c->out_end, text, len);
	c->out[c->out_end + len] = '\n';
	c->out_end += len + 1;
	return api_client_flush(s, c);
}

static int api_client_reply(struct api_server *s, struct api_client *c, struct json_object *reply)
{
	const char *text = json_object_to_json_string_ext(
	    reply, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE);
	int ret;

	if (strlen(text) + 1 > API_OUT_MAX) {
		struct json_object *e = api_error_reply("the reply is larger than 1 MiB");

		ret = api_client_queue(
		    s, c,
		    json_object_to_json_string_ext(e, JSON_C_TO_STRING_PLAIN |
							  JSON_C_TO_STRING_NOSLASHESCAPE));
		json_object_put(e);
	} else {
		ret = api_client_queue(s, c, text);
	}
	json_object_put(reply);
	return ret;
}

static int api_client_line(struct api_server *s, struct api_client *c, const char *line, size_t len)
{
	size_t i;

	/* Blank lines (a bare CR too) are no request: nothing to answer. */
	for (i = 0; i < len && strchr(" \t\r", line[i]); i++)
		;
	if (i == len)
		return 0;
	return api_client_reply(s, c, api_handle_request(&s->h, line, len));
}

/* Split data into lines and answer each; -1 when the client was dropped. */
static int api_client_feed(struct api_server *s, struct api_client *c, const char *data, size_t n)
{
	while (n) {
		const char *nl = memchr(data, '\n', n);
		size_t take = nl ? (size_t)(nl - data) : n, used = take + (nl ? 1 : 0);

		if (c->discarding) {
			c->discarding = !nl;
		} else if (c->in_len + take > API_LINE_MAX) {
			c->in_len = 0;
			c->discarding = !nl;
			if (api_client_reply(s, c,
					     api_error_reply("request longer than 4096 bytes: "
							     "discarded up to its newline")) < 0)
				return -1;
		} else {
			memcpy(c->in + c->in_len, data, take);
			c->in_len += take;
			if (nl) {
				size_t len = c->in_len;

				c->in_len = 0;
				if (api_client_line(s, c, c->in, len) < 0)
					return -1;
			}
		}
		data += used;
		n -= used;
	}
	return 0;
}

/* One read; at end of input, a last line without its newline still counts. */
static void api_client_read(struct api_server *s, struct api_client *c)
{
	char buf[API_LINE_MAX];
	ssize_t n = read(c->fd, buf, sizeof(buf));

	if (n < 0) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			api_client_close(s, c); /* ECONNRESET: it went away */
		return;
	}
	if (n > 0) {
		api_client_feed(s, c, buf, (size_t)n);
		return;
	}
	c->eof = true;
	if (c->in_len && !c->discarding) {
		size_t len = c->in_len;

		c->in_len = 0;
		api_client_line(s, c, c->in, len);
	}
}

int api_server_add_client(struct api_server *s, int fd)
{
	for (unsigned int i = 0; i < API_CLIENTS_MAX; i++) {
		struct api_client *c = &s->clients[i];
		int flags;

		if (c->fd >= 0)
			continue;
		flags = fcntl(fd, F_GETFL);
		if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
			return -1;
		*c = (struct api_client){.fd = fd};
		return 0;
	}
	return -1;
}

unsigned int api_server_clients(const struct api_server *s)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < API_CLIENTS_MAX; i++)
		n += s->clients[i].fd >= 0;
	return n;
}

/* ---- the listening socket ---- */

static void api_server_accept(struct api_server *s)
{
	static const char full[] = "{\"ok\":false,\"error\":\"too many clients (8 at most): "
				   "try again later\"}\n";

	/* Bounded: connections arriving faster than this wait for the next round. */
	for (unsigned int round = 0; round < API_CLIENTS_MAX + 4; round++) {
		int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

		if (fd < 0) {
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS ||
			    errno == ENOMEM) {
				log_errno("control socket: cannot accept a connection");
				s->accept_stalled = true;
			}
			return; /* EAGAIN: none left; ECONNABORTED, EINTR: next round */
		}
		if (api_server_add_client(s, fd) < 0) {
			/* Best effort: the socket buffer of a new connection has room. */
			if (write(fd, full, sizeof(full) - 1) < 0) {
				/* it is closed either way */
			}
			close(fd);
			log_info("control socket: a connection refused: %d clients already",
				 API_CLIENTS_MAX);
		}
	}
}

unsigned int api_server_pollfds(struct api_server *s, struct pollfd *fds)
{
	unsigned int n = 0;

	if (s->listen_fd >= 0 && !s->accept_stalled) {
		fds[n] = (struct pollfd){.fd = s->listen_fd, .events = POLLIN};
		s->poll_client[n++] = -1;
	}
	for (unsigned int i = 0; i < API_CLIENTS_MAX; i++) {
		struct api_client *c = &s->clients[i];

		if (c->fd < 0)
			continue;
		fds[n] =
		    (struct pollfd){.fd = c->fd,
				    .events = (short)((c->eof ? 0 : POLLIN) |
						      (c->out_end > c->out_start ? POLLOUT : 0))};
		s->poll_client[n++] = (int)i;
	}
	s->nr_polled = n;
	return n;
}

void api_server_process(struct api_server *s, const struct pollfd *fds, unsigned int n)
{
	bool accept_ready = false;

	if (n > s->nr_polled)
		n = s->nr_polled;
	for (unsigned int i = 0; i < n; i++) {
		struct api_client *c;

		if (!fds[i].revents)
			continue;
		if (s->poll_client[i] < 0) {
			accept_ready = true;
			continue;
		}
		c = &s->clients[s->poll_client[i]];
		if (c->fd != fds[i].fd)
			continue;
		if (fds[i].revents & POLLNVAL) {
			api_client_close(s, c);
			continue;
		}
		/* POLLHUP/POLLERR: read to see the end (or the error) and what came before it. */
		if (!c->eof && (fds[i].revents & (POLLIN | POLLHUP | POLLERR)))
			api_client_read(s, c);
		if (c->fd >= 0 && c->out_end > c->out_start && api_client_flush(s, c) < 0)
			continue;
		if (c->fd >= 0 && ((c->eof && c->out_end == c->out_start) ||
				   (c->eof && (fds[i].revents & (POLLHUP | POLLERR)))))
			api_client_close(s, c);
	}
	if (accept_ready)
		api_server_accept(s);
}

/*
 * Make way for the socket at path: nothing there, or a socket nobody
 * accepts on (a minivmm that was killed left it), which is removed.
 */
static int api_server_clear_path(const char *path, const struct sockaddr_un *addr, char *err,
				 size_t size)
{
	struct stat st;
	int fd, ret;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		snprintf(err, size, "--api-socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (!S_ISSOCK(st.st_mode)) {
		snprintf(err, size, "--api-socket %s: exists and is not a socket; not replaced",
			 path);
		return -1;
	}
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0) {
		snprintf(err, size, "--api-socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	ret = connect(fd, (const struct sockaddr *)addr, sizeof(*addr));
	close(fd);
	if (ret == 0) {
		snprintf(err, size,
			 "--api-socket %s: another process is listening on it (another minivmm?)",
			 path);
		return -1;
	}
	if (errno != ECONNREFUSED) {
		snprintf(err, size, "--api-socket %s: exists and cannot be checked: %s", path,
			 strerror(errno));
		return -1;
	}
	if (unlink(path) < 0) {
		snprintf(err, size, "--api-socket %s: cannot remove the stale socket: %s", path,
			 strerror(errno));
		return -1;
	}
	log_debug("control socket: removed the stale socket %s", path);
	return 0;
}

static int api_server_listen(struct api_server *s, const char *path, char *err, size_t size)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct stat st;
	mode_t old_mask;
	int ret;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		snprintf(err, size, "--api-socket %s: path too long", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path));
	if (api_server_clear_path(path, &addr, err, size) < 0)
		return -1;
	s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (s->listen_fd < 0) {
		snprintf(err, size, "--api-socket %s: socket: %s", path, strerror(errno));
		return -1;
	}
	/* 0600 from the start: no moment in which another user could connect.
	 * (umask is the process's: this runs before any other thread exists.) */
	old_mask = umask(0177);
	ret = bind(s->listen_fd, (const struct sockaddr *)&addr, sizeof(addr));
	umask(old_mask);
	if (ret < 0) {
		snprintf(err, size, "--api-socket %s: %s", path, strerror(errno));
		return -1;
	}
	if (stat(path, &st) < 0 || listen(s->listen_fd, API_CLIENTS_MAX) < 0) {
		snprintf(err, size, "--api-socket %s: %s", path, strerror(errno));
		unlink(path);
		return -1;
	}
	s->dev = st.st_dev;
	s->ino = st.st_ino;
	s->path = strdup(path);
	if (!s->path) {
		snprintf(err, size, "--api-socket %s: out of memory", path);
		unlink(path);
		return -1;
	}
	return 0;
}

struct api_server *api_server_open(const char *path, const struct api_handlers *h, char *err,
				   size_t err_size)
{
	struct api_server *s = calloc(1, sizeof(*s));

	if (!s) {
		snprintf(err, err_size, "--api-socket: out of memory");
		return NULL;
	}
	s->listen_fd = -1;
	s->h = *h;
	for (unsigned int i = 0; i < API_CLIENTS_MAX; i++)
		s->clients[i].fd = -1;
	if (path && api_server_listen(s, path, err, err_size) < 0) {
		if (s->listen_fd >= 0)
			close(s->listen_fd);
		free(s);
		return NULL;
	}
	return s;
}

void api_server_close(struct api_server *s)
{
	struct stat st;

	if (!s)
		return;
	for (unsigned int i = 0; i < API_CLIENTS_MAX; i++)
		api_client_close(s, &s->clients[i]);
	if (s->listen_fd >= 0)
		close(s->listen_fd);
	/* Only the socket we made: someone may have put another one there since. */
	if (s->path && lstat(s->path, &st) == 0 && st.st_dev == s->dev && st.st_ino == s->ino)
		unlink(s->path);
	free(s->path);
	free(s);
}

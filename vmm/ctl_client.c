/*
 * `minivmm ctl` (ctl_client.h): one request, one reply.  The request goes
 * out as one line and the connection is then half-closed, so minivmm
 * answers and closes; the reply line is printed as it came.
 */
#include "ctl_client.h"

#include <errno.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "api_server.h"

static void ctl_usage(FILE *out)
{
	fprintf(out,
		"Usage: minivmm ctl SOCKET COMMAND [FIELD=VALUE]...\n"
		"Send COMMAND to the minivmm serving --api-socket SOCKET and print its reply\n"
		"(one JSON line).  Commands: status, stats, pause, resume, stop [timeout_s=N].\n"
		"Exit status: %d reply without error, %d minivmm answered an error,\n"
		"%d bad arguments, %d no connection or no reply within %d s.\n",
		CTL_EXIT_OK, CTL_EXIT_ERROR_REPLY, CTL_EXIT_USAGE, CTL_EXIT_NO_REPLY,
		CTL_REPLY_TIMEOUT_MS / 1000);
}

static struct json_object *ctl_value(const char *text)
{
	char *end;
	long long v;

	if (!strcmp(text, "true") || !strcmp(text, "false"))
		return json_object_new_boolean(!strcmp(text, "true"));
	errno = 0;
	v = strtoll(text, &end, 10);
	if (*text && !*end && !errno)
		return json_object_new_int64(v);
	return json_object_new_string(text);
}

struct json_object *ctl_build_request(const char *cmd, int nr_fields, char *const *fields,
				      char *err, size_t err_size)
{
	struct json_object *req = json_object_new_object();

	json_object_object_add(req, "cmd", json_object_new_string(cmd));
	for (int i = 0; i < nr_fields; i++) {
		const char *eq = strchr(fields[i], '=');
		char key[64];

		if (!eq || eq == fields[i] || (size_t)(eq - fields[i]) >= sizeof(key)) {
			snprintf(err, err_size, "'%s': expected FIELD=VALUE", fields[i]);
			json_object_put(req);
			return NULL;
		}
		memcpy(key, fields[i], (size_t)(eq - fields[i]));
		key[eq - fields[i]] = '\0';
		if (!strcmp(key, "cmd") || json_object_object_get_ex(req, key, NULL)) {
			snprintf(err, err_size, "'%s': field %s given twice", fields[i], key);
			json_object_put(req);
			return NULL;
		}
		json_object_object_add(req, key, ctl_value(eq + 1));
	}
	return req;
}

static int ctl_connect(const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd;

	if (strlen(path) >= sizeof(addr.sun_path)) {
		fprintf(stderr, "minivmm ctl: %s: path too long\n", path);
		return -1;
	}
	memcpy(addr.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0 || connect(fd, (struct sockaddr *)&addr, sizeof(addr)) < 0) {
		fprintf(stderr, "minivmm ctl: %s: %s\n", path, strerror(errno));
		if (fd >= 0)
			close(fd);
		return -1;
	}
	return fd;
}

static int ctl_send(int fd, const char *path, const char *text)
{
	size_t len = strlen(text), done = 0;

	while (done < len) {
		ssize_t n = send(fd, text + done, len - done, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			fprintf(stderr, "minivmm ctl: %s: cannot send the request: %s\n", path,
				strerror(errno));
			return -1;
		}
		done += (size_t)n;
	}
	shutdown(fd, SHUT_WR); /* the whole request: minivmm answers and closes */
	return 0;
}

/* The first line minivmm sends (without its newline) into buf; -1 on none in time. */
static int ctl_receive(int fd, const char *path, char *buf, size_t size)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	size_t len = 0;

	while (len + 1 < size) {
		ssize_t n;
		int r = poll(&p, 1, CTL_REPLY_TIMEOUT_MS);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			fprintf(stderr, "minivmm ctl: %s: no reply within %d s\n", path,
				CTL_REPLY_TIMEOUT_MS / 1000);
			return -1;
		}
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			fprintf(stderr, "minivmm ctl: %s: %s\n", path, strerror(errno));
			return -1;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (memchr(buf, '\n', len))
			break;
	}
	buf[len] = '\0';
	if (!strchr(buf, '\n')) {
		fprintf(stderr, "minivmm ctl: %s: %s\n", path,
			len ? "the reply is cut short" : "the connection closed without a reply");
		return -1;
	}
	*strchr(buf, '\n') = '\0';
	return 0;
}

int ctl_main(int argc, char **argv)
{
	struct json_object *req, *reply, *error;
	char err[256], *buf, *line;
	int fd, status;

	if (argc == 2 && (!strcmp(argv[1], "--help") || !strcmp(argv[1], "-h"))) {
		ctl_usage(stdout);
		return CTL_EXIT_OK;
	}
	if (argc < 3) {
		fprintf(stderr, "minivmm ctl: expected SOCKET and COMMAND\n");
		ctl_usage(stderr);
		return CTL_EXIT_USAGE;
	}
	req = ctl_build_request(argv[2], argc - 3, argv + 3, err, sizeof(err));
	if (!req) {
		fprintf(stderr, "minivmm ctl: %s\n", err);
		return CTL_EXIT_USAGE;
	}
	fd = ctl_connect(argv[1]);
	if (fd < 0) {
		json_object_put(req);
		return CTL_EXIT_NO_REPLY;
	}
	/* A stats reply is the largest; minivmm sends none over API_OUT_MAX. */
	buf = malloc(API_OUT_MAX + 1);
	line = NULL;
	if (!buf || asprintf(&line, "%s\n",
			     json_object_to_json_string_ext(
				 req, JSON_C_TO_STRING_PLAIN | JSON_C_TO_STRING_NOSLASHESCAPE)) < 0)
		line = NULL;
	json_object_put(req);
	if (!line || ctl_send(fd, argv[1], line) < 0 ||
	    ctl_receive(fd, argv[1], buf, API_OUT_MAX + 1) < 0) {
		if (!line)
			fprintf(stderr, "minivmm ctl: out of memory\n");
		free(line);
		free(buf);
		close(fd);
		return CTL_EXIT_NO_REPLY;
	}
	free(line);
	close(fd);
	printf("%s\n", buf);
	reply = json_tokener_parse(buf);
	if (!reply || !json_object_is_type(reply, json_type_object)) {
		fprintf(stderr, "minivmm ctl: %s: the reply is not a JSON object\n", argv[1]);
		status = CTL_EXIT_NO_REPLY;
	} else {
		status = json_object_object_get_ex(reply, "error", &error) ? CTL_EXIT_ERROR_REPLY
									   : CTL_EXIT_OK;
	}
	json_object_put(reply);
	free(buf);
	return status;
}

/*
 * The control socket's protocol and transport (vmm/api_server.c): requests
 * that are not JSON objects, name no or an unknown command, carry unknown
 * fields, are over-long, split across reads or pipelined; clients that
 * never read, too many clients; the socket file's mode, an existing path.
 * Every bad input must give one {"ok": false, "error": ...} line (or a
 * disconnect) and leave the server answering.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <json-c/json.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "helpers.h"
#include "util.h"
#include "vmm/api_server.h"

/* ---- fake commands ---- */

static int fake_echo(void *opaque, struct json_object *req, struct json_object *reply, char *err,
		     size_t size)
{
	struct json_object *v;

	(void)opaque, (void)err, (void)size;
	if (json_object_object_get_ex(req, "value", &v))
		json_object_object_add(reply, "value", json_object_get(v));
	return 0;
}

static int fake_fail(void *opaque, struct json_object *req, struct json_object *reply, char *err,
		     size_t size)
{
	(void)opaque, (void)req, (void)reply;
	snprintf(err, size, "it failed on purpose");
	return -1;
}

/* A 64 KiB reply: a client that never reads fills its queue fast. */
static int fake_big(void *opaque, struct json_object *req, struct json_object *reply, char *err,
		    size_t size)
{
	static char text[64 * 1024];

	(void)opaque, (void)req, (void)err, (void)size;
	memset(text, 'b', sizeof(text) - 1);
	json_object_object_add(reply, "data", json_object_new_string(text));
	return 0;
}

static const char *const fake_echo_fields[] = {"value", NULL};
static const struct api_command fake_cmds[] = {
    {"echo", fake_echo_fields, fake_echo},
    {"fail", NULL, fake_fail},
    {"big", NULL, fake_big},
};
static const struct api_handlers fake_handlers = {fake_cmds, ARRAY_SIZE(fake_cmds), NULL};

/* The reply to line as a JSON object (the test owns it). */
static struct json_object *request(const char *line)
{
	return api_handle_request(&fake_handlers, line, strlen(line));
}

static const char *error_of(struct json_object *reply)
{
	struct json_object *e, *ok;

	ck_assert(json_object_object_get_ex(reply, "ok", &ok));
	if (!json_object_object_get_ex(reply, "error", &e))
		return NULL;
	ck_assert(!json_object_get_boolean(ok));
	return json_object_get_string(e);
}

/* line is refused with an error containing want. */
static void expect_error(const char *line, size_t len, const char *want)
{
	struct json_object *reply = api_handle_request(&fake_handlers, line, len);
	const char *e = error_of(reply);

	ck_assert_msg(e != NULL, "no error for [%.*s]", (int)len, line);
	ck_assert_msg(strstr(e, want), "error for [%.*s] is \"%s\", expected \"%s\"", (int)len,
		      line, e, want);
	json_object_put(reply);
}

START_TEST(test_valid_request)
{
	struct json_object *reply = request("  {\"cmd\": \"echo\", \"value\": [1, 2]}\r");
	struct json_object *ok, *v;

	ck_assert_ptr_null(error_of(reply));
	ck_assert(json_object_object_get_ex(reply, "ok", &ok) && json_object_get_boolean(ok));
	ck_assert(json_object_object_get_ex(reply, "value", &v));
	ck_assert_int_eq(json_object_array_length(v), 2);
	json_object_put(reply);
}
END_TEST

START_TEST(test_malformed_requests)
{
	static const struct {
		const char *line, *want;
	} cases[] = {
	    {"{", "not valid JSON: unexpected end of data"},
	    {"{\"cmd\": \"echo\"", "not valid JSON: unexpected end of data"},
	    {"garbage", "not valid JSON"},
	    {"{'cmd': 'echo'}", "not valid JSON"},
	    {"{\"cmd\": \"echo\"} {\"cmd\": \"echo\"}", "not valid JSON"},
	    {"{\"cmd\": \"echo\"} x", "not valid JSON"},
	    {"[\"echo\"]", "must be a JSON object"},
	    {"\"echo\"", "must be a JSON object"},
	    {"42", "must be a JSON object"},
	    {"null", "must be a JSON object"},
	    {"{}", "needs a string \"cmd\": one of echo, fail, big"},
	    {"{\"cmd\": 1}", "needs a string \"cmd\""},
	    {"{\"cmd\": null}", "needs a string \"cmd\""},
	    {"{\"cmd\": \"reboot\"}", "unknown command \"reboot\" (known: echo, fail, big)"},
	    {"{\"cmd\": \"echo\", \"valeu\": 1}", "command \"echo\" takes no field \"valeu\""},
	    {"{\"cmd\": \"fail\", \"value\": 1}", "command \"fail\" takes no field \"value\""},
	    {"{\"cmd\": \"fail\"}", "it failed on purpose"},
	    {"{\"cmd\": \"echo\", \"value\": [[[[[[[[[[[[1]]]]]]]]]]]]}", "not valid JSON"},
	    {"{\"cmd\": \"ech\xff\"}", "not valid JSON"},
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		expect_error(cases[i].line, strlen(cases[i].line), cases[i].want);
	expect_error("{\"cmd\": \"echo\"}\0", 16, "NUL byte");
	expect_error("{\"cmd\":\0\"echo\"}", 15, "NUL byte");
}
END_TEST

/* A long unknown name is repeated only in part, cut before a whole UTF-8 character. */
START_TEST(test_echo_is_bounded)
{
	char line[512], name[300];
	struct json_object *reply;
	const char *e;

	memset(name, 'n', sizeof(name));
	/* "é" (2 bytes) straddling the cut at 64 bytes */
	name[63] = (char)0xc3;
	name[64] = (char)0xa9;
	name[sizeof(name) - 1] = '\0';
	snprintf(line, sizeof(line), "{\"cmd\": \"%s\"}", name);
	reply = request(line);
	e = error_of(reply);
	ck_assert_ptr_nonnull(e);
	ck_assert_ptr_nonnull(strstr(e, "unknown command \"nnn"));
	ck_assert_ptr_null(
	    strstr(e, "nnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnnn"));
	ck_assert_ptr_null(strchr(e, (char)0xc3)); /* no half character */
	json_object_put(reply);
}
END_TEST

/* ---- the server over socket pairs ---- */

static struct api_server *srv;

static void server_setup(void)
{
	char err[256];

	srv = api_server_open(NULL, &fake_handlers, err, sizeof(err));
	ck_assert_ptr_nonnull(srv);
}

static void server_teardown(void)
{
	api_server_close(srv);
	srv = NULL;
}

/* One poll round of the server (waiting up to 20 ms for something to do). */
static void pump(void)
{
	struct pollfd fds[API_SERVER_POLLFDS];
	unsigned int n = api_server_pollfds(srv, fds);

	ck_assert_int_ge(poll(fds, n, 20), 0);
	api_server_process(srv, fds, n);
}

/* A client end served by srv; the test's end is returned (non-blocking). */
static int connect_pair(void)
{
	int sv[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	ck_assert_int_eq(api_server_add_client(srv, sv[1]), 0);
	ck_assert_int_eq(fcntl(sv[0], F_SETFL, O_NONBLOCK), 0);
	return sv[0];
}

static void send_text(int fd, const char *text, size_t len)
{
	while (len) {
		ssize_t n = write(fd, text, len);

		if (n < 0 && errno == EAGAIN) {
			pump();
			continue;
		}
		ck_assert_int_gt(n, 0);
		text += n;
		len -= (size_t)n;
	}
}

/*
 * The next reply line on fd (pumping the server meanwhile), parsed; NULL
 * when fd reached its end first.  Fails after 500 rounds without one.
 */
static struct json_object *read_reply(int fd)
{
	static char line[256 * 1024];
	size_t len = 0;

	for (int round = 0; round < 500;) {
		ssize_t n = read(fd, line + len, 1);

		if (n == 0)
			return NULL;
		if (n < 0) {
			ck_assert_int_eq(errno, EAGAIN);
			pump();
			round++;
			continue;
		}
		if (line[len] == '\n') {
			struct json_object *o;

			line[len] = '\0';
			o = json_tokener_parse(line);
			ck_assert_msg(o != NULL, "reply is not JSON: %s", line);
			return o;
		}
		ck_assert_uint_lt(++len, sizeof(line));
	}
	ck_abort_msg("no reply");
	return NULL;
}

/* The next reply is an error containing want (NULL: is not an error). */
static void expect_reply(int fd, const char *want)
{
	struct json_object *reply = read_reply(fd);
	const char *e;

	ck_assert_ptr_nonnull(reply);
	e = error_of(reply);
	if (!want)
		ck_assert_msg(e == NULL, "unexpected error \"%s\"", e);
	else
		ck_assert_msg(e && strstr(e, want), "error \"%s\", expected \"%s\"",
			      e ? e : "(none)", want);
	json_object_put(reply);
}

START_TEST(test_pipelined_and_split_requests)
{
	int fd = connect_pair();
	const char *three = "{\"cmd\":\"echo\"}\n{\"cmd\":\"nope\"}\n\n   \n{\"cmd\":\"echo\"}\n";

	send_text(fd, three, strlen(three));
	expect_reply(fd, NULL);
	expect_reply(fd, "unknown command");
	expect_reply(fd, NULL); /* blank lines were no requests */
	/* One request in three pieces, pumped between them. */
	send_text(fd, "{\"cm", 4);
	pump();
	send_text(fd, "d\":\"ec", 6);
	pump();
	send_text(fd, "ho\"}\n", 5);
	expect_reply(fd, NULL);
	close(fd);
	for (int i = 0; i < 50 && api_server_clients(srv); i++)
		pump();
	ck_assert_uint_eq(api_server_clients(srv), 0);
}
END_TEST

START_TEST(test_line_length_bound)
{
	int fd = connect_pair();
	char *line = malloc(3 * API_LINE_MAX);
	const char *req = "{\"cmd\":\"echo\"}";

	/* Exactly API_LINE_MAX bytes before the newline: accepted. */
	memset(line, ' ', API_LINE_MAX);
	memcpy(line, req, strlen(req));
	line[API_LINE_MAX] = '\n';
	send_text(fd, line, API_LINE_MAX + 1);
	expect_reply(fd, NULL);
	/* One more: refused, once, and skipped up to its newline. */
	line[API_LINE_MAX] = ' ';
	line[API_LINE_MAX + 1] = '\n';
	send_text(fd, line, API_LINE_MAX + 2);
	expect_reply(fd, "request longer than 4096 bytes");
	/* Three times the bound in pieces, then a good request on the same connection. */
	memset(line, 'x', 3 * API_LINE_MAX);
	for (int i = 0; i < 3; i++) {
		send_text(fd, line, API_LINE_MAX);
		pump();
	}
	send_text(fd, "}}}\n{\"cmd\":\"echo\"}\n", 19);
	expect_reply(fd, "request longer than 4096 bytes");
	expect_reply(fd, NULL);
	free(line);
	close(fd);
}
END_TEST

/* A last request without its newline is answered at end of input, then the server closes. */
START_TEST(test_request_at_end_of_input)
{
	int fd = connect_pair();

	send_text(fd, "{\"cmd\":\"echo\",\"value\":7}", 24);
	ck_assert_int_eq(shutdown(fd, SHUT_WR), 0);
	expect_reply(fd, NULL);
	ck_assert_ptr_null(read_reply(fd)); /* closed */
	ck_assert_uint_eq(api_server_clients(srv), 0);
	close(fd);
}
END_TEST

/* A client that asks and never reads is dropped; the others are still answered. */
START_TEST(test_client_that_never_reads)
{
	int lazy = connect_pair(), good = connect_pair();
	int rounds;

	ck_assert_uint_eq(api_server_clients(srv), 2);
	/* 64 KiB replies: 1 MiB queued takes 16 beyond what the socket holds. */
	for (rounds = 0; rounds < 200 && api_server_clients(srv) == 2; rounds++) {
		send_text(lazy, "{\"cmd\":\"big\"}\n", 14);
		pump();
	}
	ck_assert_uint_eq(api_server_clients(srv), 1);
	ck_assert_int_gt(rounds, 16);
	send_text(good, "{\"cmd\":\"echo\"}\n", 15);
	expect_reply(good, NULL);
	close(lazy);
	close(good);
}
END_TEST

START_TEST(test_client_limit)
{
	int fds[API_CLIENTS_MAX], sv[2];

	for (int i = 0; i < API_CLIENTS_MAX; i++)
		fds[i] = connect_pair();
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	ck_assert_int_eq(api_server_add_client(srv, sv[1]), -1);
	close(sv[0]);
	close(sv[1]);
	for (int i = 0; i < API_CLIENTS_MAX; i++)
		close(fds[i]);
}
END_TEST

/* ---- the socket file ---- */

static char sock_dir[48], sock_path[64];

static void path_setup(void)
{
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/minivmm-api-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(sock_dir));
	snprintf(sock_path, sizeof(sock_path), "%s/sock", sock_dir);
}

static void path_teardown(void)
{
	unlink(sock_path);
	rmdir(sock_dir);
}

static int connect_path(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
	ck_assert_int_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
	return fd;
}

START_TEST(test_socket_mode_and_removal)
{
	struct stat st;
	char err[256];
	mode_t old = umask(0); /* the socket must not depend on the caller's umask */
	int fd;

	srv = api_server_open(sock_path, &fake_handlers, err, sizeof(err));
	umask(old);
	ck_assert_msg(srv != NULL, "%s", err);
	ck_assert_int_eq(lstat(sock_path, &st), 0);
	ck_assert(S_ISSOCK(st.st_mode));
	ck_assert_uint_eq(st.st_mode & 07777, 0600);
	fd = connect_path();
	send_text(fd, "{\"cmd\":\"echo\"}\n", 15);
	expect_reply(fd, NULL);
	close(fd);
	api_server_close(srv);
	srv = NULL;
	ck_assert_int_eq(lstat(sock_path, &st), -1);
	ck_assert_int_eq(errno, ENOENT);
}
END_TEST

START_TEST(test_existing_paths)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	struct api_server *second;
	char err[256];
	int fd;

	/* A regular file is never replaced. */
	fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	ck_assert_int_ge(fd, 0);
	close(fd);
	ck_assert_ptr_null(api_server_open(sock_path, &fake_handlers, err, sizeof(err)));
	ck_assert_ptr_nonnull(strstr(err, "exists and is not a socket"));
	unlink(sock_path);
	/* A socket nobody listens on (its minivmm was killed) is replaced. */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", sock_path);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	close(fd);
	srv = api_server_open(sock_path, &fake_handlers, err, sizeof(err));
	ck_assert_msg(srv != NULL, "%s", err);
	/* A socket someone listens on is not. */
	second = api_server_open(sock_path, &fake_handlers, err, sizeof(err));
	ck_assert_ptr_null(second);
	ck_assert_ptr_nonnull(strstr(err, "another process is listening on it"));
	fd = connect_path(); /* and the first still serves */
	send_text(fd, "{\"cmd\":\"echo\"}\n", 15);
	expect_reply(fd, NULL);
	close(fd);
	/* A directory that does not exist. */
	ck_assert_ptr_null(
	    api_server_open("/nonexistent-minivmm/sock", &fake_handlers, err, sizeof(err)));
	ck_assert_str_eq(err, "--api-socket /nonexistent-minivmm/sock: No such file or directory");
	api_server_close(srv);
	srv = NULL;
}
END_TEST

/* The client over the limit is told so and disconnected; the others go on. */
START_TEST(test_too_many_connections)
{
	int fds[API_CLIENTS_MAX], extra;
	char err[256];

	srv = api_server_open(sock_path, &fake_handlers, err, sizeof(err));
	ck_assert_msg(srv != NULL, "%s", err);
	for (int i = 0; i < API_CLIENTS_MAX; i++) {
		fds[i] = connect_path();
		pump();
	}
	ck_assert_uint_eq(api_server_clients(srv), API_CLIENTS_MAX);
	extra = connect_path();
	expect_reply(extra, "too many clients");
	ck_assert_ptr_null(read_reply(extra));
	send_text(fds[0], "{\"cmd\":\"echo\"}\n", 15);
	expect_reply(fds[0], NULL);
	close(extra);
	for (int i = 0; i < API_CLIENTS_MAX; i++)
		close(fds[i]);
	api_server_close(srv);
	srv = NULL;
}
END_TEST

Suite *api_server_suite(void)
{
	Suite *s = suite_create("api_server");

	unit_tcase(s, "requests", NULL, NULL,
		   UNIT_TESTS(test_valid_request, test_malformed_requests, test_echo_is_bounded));
	unit_tcase(s, "clients", server_setup, server_teardown,
		   UNIT_TESTS(test_pipelined_and_split_requests, test_line_length_bound,
			      test_request_at_end_of_input, test_client_that_never_reads,
			      test_client_limit));
	unit_tcase(s, "socket", path_setup, path_teardown,
		   UNIT_TESTS(test_socket_mode_and_removal, test_existing_paths,
			      test_too_many_connections));
	return s;
}

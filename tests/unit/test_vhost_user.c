/*
 * The vhost-user front-end (devices/vhost_user/vhost_user.c) against a fake
 * back-end: a thread listening on a UNIX socket in a temporary directory
 * that records every message it receives (header, payload, descriptors)
 * and answers from a script written before it starts, one step per message.
 * Assertions on what the back-end received come after the thread is joined
 * (the front-end closes, the back-end sees EOF), so nothing sleeps to
 * synchronise.
 */
#include <check.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/vhost_user/vhost_user.h"
#include "helpers.h"
#include "util.h"

#define VUT_MAX_STEPS	24
#define VUT_MAX_MSGS	32
#define VUT_MAX_PAYLOAD 512
#define VUT_MAX_FDS	8
#define HDR		12u
#define REPLY_FLAGS	(VHOST_USER_VERSION | VHOST_USER_FLAG_REPLY)
#define PF(bit)		(1ull << (bit))
#define F_PROTOCOL	PF(VHOST_USER_F_PROTOCOL_FEATURES)

/* What the back-end does with the message it just received. */
struct vut_step {
	uint8_t reply[VUT_MAX_PAYLOAD]; /* bytes sent back, possibly none or a fragment */
	size_t reply_len;
	int reply_fd;	  /* sent with the reply when >= 0 */
	bool close_after; /* then hang up */
};

/* One message as the back-end received it. */
struct vut_msg {
	uint32_t request, flags, size;
	uint8_t payload[VUT_MAX_PAYLOAD];
	unsigned int nr_fds;
	ino_t fd_ino[VUT_MAX_FDS];
};

static struct {
	char dir[64], path[108]; /* sun_path */
	int listen_fd;
	pthread_t thread;
	bool started;
	struct vut_step steps[VUT_MAX_STEPS];
	unsigned int nsteps;
	struct vut_msg got[VUT_MAX_MSGS];
	unsigned int ngot;
} vut;

static struct vhost_user vu;

/* Reads len bytes; descriptors that come with them are recorded in m and closed. */
static bool vut_read(int fd, void *buf, size_t len, struct vut_msg *m)
{
	size_t off = 0;

	while (off < len) {
		char control[CMSG_SPACE(sizeof(int) * VUT_MAX_FDS)];
		struct iovec iov = {.iov_base = (char *)buf + off, .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control,
				    .msg_controllen = sizeof(control)};
		ssize_t n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);

		if (n <= 0)
			return false;
		for (struct cmsghdr *c = CMSG_FIRSTHDR(&mh); c; c = CMSG_NXTHDR(&mh, c)) {
			size_t nfds = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

			for (size_t i = 0; i < nfds; i++) {
				struct stat st;
				int rfd;

				memcpy(&rfd, CMSG_DATA(c) + i * sizeof(int), sizeof(int));
				if (m->nr_fds < VUT_MAX_FDS && fstat(rfd, &st) == 0)
					m->fd_ino[m->nr_fds] = st.st_ino;
				m->nr_fds++;
				close(rfd);
			}
		}
		off += (size_t)n;
	}
	return true;
}

static bool vut_read_msg(int fd, struct vut_msg *m)
{
	uint8_t hdr[HDR];

	memset(m, 0, sizeof(*m));
	if (!vut_read(fd, hdr, HDR, m))
		return false;
	memcpy(&m->request, hdr, 4);
	memcpy(&m->flags, hdr + 4, 4);
	memcpy(&m->size, hdr + 8, 4);
	return m->size <= VUT_MAX_PAYLOAD && vut_read(fd, m->payload, m->size, m);
}

static void vut_send(int fd, const struct vut_step *s)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)s->reply, .iov_len = s->reply_len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};

	if (!s->reply_len)
		return;
	if (s->reply_fd >= 0) {
		struct cmsghdr *c;

		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &s->reply_fd, sizeof(int));
	}
	(void)sendmsg(fd, &mh, MSG_NOSIGNAL);
}

/* Serves one connection: step i answers the i-th message; later ones are only recorded. */
static void *vut_serve(void *arg)
{
	int conn = accept4(vut.listen_fd, NULL, NULL, SOCK_CLOEXEC);

	(void)arg;
	while (conn >= 0 && vut.ngot < VUT_MAX_MSGS) {
		unsigned int i = vut.ngot;

		if (!vut_read_msg(conn, &vut.got[i]))
			break;
		vut.ngot++;
		if (i >= vut.nsteps)
			continue;
		vut_send(conn, &vut.steps[i]);
		if (vut.steps[i].close_after)
			break;
	}
	if (conn >= 0)
		close(conn);
	return NULL;
}

static struct vut_step *vut_step(void)
{
	struct vut_step *s;

	ck_assert_uint_lt(vut.nsteps, VUT_MAX_STEPS);
	s = &vut.steps[vut.nsteps++];
	memset(s, 0, sizeof(*s));
	s->reply_fd = -1;
	return s;
}

static struct vut_step *vut_reply_raw(uint32_t request, uint32_t flags, uint32_t size,
				      const void *payload, size_t payload_len)
{
	struct vut_step *s = vut_step();

	memcpy(s->reply, &request, 4);
	memcpy(s->reply + 4, &flags, 4);
	memcpy(s->reply + 8, &size, 4);
	memcpy(s->reply + HDR, payload, payload_len);
	s->reply_len = HDR + payload_len;
	return s;
}

static struct vut_step *vut_reply_u64(uint32_t request, uint64_t v)
{
	return vut_reply_raw(request, REPLY_FLAGS, 8, &v, 8);
}

/* A message the back-end reads without answering. */
static void vut_silent(void)
{
	vut_step();
}

/* The opening conversation as vhost_user_connect() holds it. */
static void vut_script_open(uint64_t features, uint64_t offered, uint64_t wanted)
{
	vut_reply_u64(VHOST_USER_GET_FEATURES, features);
	if (features & F_PROTOCOL) {
		vut_reply_u64(VHOST_USER_GET_PROTOCOL_FEATURES, offered);
		vut_silent(); /* SET_PROTOCOL_FEATURES */
	} else {
		offered = 0;
	}
	if (offered & wanted & PF(VHOST_USER_PROTOCOL_F_REPLY_ACK))
		vut_reply_u64(VHOST_USER_SET_OWNER, 0);
	else
		vut_silent();
}

static void vut_start(void)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};

	snprintf(vut.dir, sizeof(vut.dir), "/tmp/minivmm-vu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(vut.dir));
	snprintf(vut.path, sizeof(vut.path), "%s/backend.sock", vut.dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", vut.path);
	vut.listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(vut.listen_fd, 0);
	ck_assert_int_eq(bind(vut.listen_fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(listen(vut.listen_fd, 1), 0);
	ck_assert_int_eq(pthread_create(&vut.thread, NULL, vut_serve, NULL), 0);
	vut.started = true;
}

/* Closes the front-end and waits for the back-end to see it go. */
static void vut_finish(void)
{
	vhost_user_close(&vu);
	if (vut.started)
		pthread_join(vut.thread, NULL);
	vut.started = false;
}

static void vut_setup(void)
{
	memset(&vut, 0, sizeof(vut));
	vut.listen_fd = -1;
	vu.sock = -1;
}

static void vut_teardown(void)
{
	vut_finish();
	if (vut.listen_fd >= 0)
		close(vut.listen_fd);
	if (vut.path[0])
		unlink(vut.path);
	if (vut.dir[0])
		rmdir(vut.dir);
}

static uint32_t vut_u32_at(const struct vut_msg *m, size_t off)
{
	uint32_t v;

	memcpy(&v, m->payload + off, 4);
	return v;
}

static uint64_t vut_u64_at(const struct vut_msg *m, size_t off)
{
	uint64_t v;

	memcpy(&v, m->payload + off, 8);
	return v;
}

/* Asserts the header of the i-th message the back-end received. */
static const struct vut_msg *vut_expect(unsigned int i, uint32_t request, bool need_reply,
					uint32_t size, unsigned int nr_fds)
{
	const struct vut_msg *m = &vut.got[i];

	ck_assert_uint_lt(i, vut.ngot);
	ck_assert_uint_eq(m->request, request);
	ck_assert_uint_eq(m->flags,
			  VHOST_USER_VERSION | (need_reply ? VHOST_USER_FLAG_NEED_REPLY : 0));
	ck_assert_uint_eq(m->size, size);
	ck_assert_uint_eq(m->nr_fds, nr_fds);
	return m;
}

static uint64_t vut_now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static ino_t vut_ino_of(int fd)
{
	struct stat st;

	ck_assert_int_eq(fstat(fd, &st), 0);
	return st.st_ino;
}

static unsigned int vut_open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	unsigned int n = 0;

	ck_assert_ptr_nonnull(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n;
}

#define ALL_PROTO                                                                                  \
	(PF(VHOST_USER_PROTOCOL_F_MQ) | PF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |                      \
	 PF(VHOST_USER_PROTOCOL_F_CONFIG) | PF(VHOST_USER_PROTOCOL_F_RESET_DEVICE))

START_TEST(connect_errors_are_clear)
{
	char longpath[200];

	ck_assert_int_eq(vhost_user_connect(&vu, "/nonexistent-minivmm/x.sock", "t", 200, 0),
			 -ENOENT);
	ck_assert_str_eq(vu.error,
			 "connect to /nonexistent-minivmm/x.sock: No such file or directory");
	ck_assert_int_eq(vu.sock, -1);
	ck_assert_str_eq(vu.name, "t");

	memset(longpath, 'a', sizeof(longpath) - 1);
	longpath[sizeof(longpath) - 1] = 0;
	ck_assert_int_eq(vhost_user_connect(&vu, longpath, "t", 200, 0), -ENAMETOOLONG);
	ck_assert_ptr_nonnull(strstr(vu.error, "at most 107"));
	ck_assert_int_eq(vhost_user_connect(&vu, "", "t", 200, 0), -EINVAL);
	ck_assert_ptr_nonnull(strstr(vu.error, "empty"));

	/* Closed and not connected: every call fails at once. */
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 0, 256), -EPIPE);
	vhost_user_close(&vu);
	vhost_user_close(&vu); /* idempotent */
	ck_assert_int_eq(vu.sock, -1);
}
END_TEST

START_TEST(socket_without_listener_is_refused)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	int s = socket(AF_UNIX, SOCK_STREAM, 0);

	/* A socket file nobody listens on: bound, never listen()ed. */
	snprintf(vut.dir, sizeof(vut.dir), "/tmp/minivmm-vu-XXXXXX");
	ck_assert_ptr_nonnull(mkdtemp(vut.dir));
	snprintf(vut.path, sizeof(vut.path), "%s/dead.sock", vut.dir);
	snprintf(addr.sun_path, sizeof(addr.sun_path), "%s", vut.path);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&addr, sizeof(addr)), 0);
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 200, 0), -ECONNREFUSED);
	ck_assert_ptr_nonnull(strstr(vu.error, "Connection refused"));
	close(s);
}
END_TEST

START_TEST(open_without_protocol_features)
{
	vut_script_open(0x1234, 0, ALL_PROTO);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "disk0", 1000, ALL_PROTO), 0);
	ck_assert_uint_eq(vu.backend_features, 0x1234);
	ck_assert_uint_eq(vu.protocol_features, 0);
	ck_assert_uint_eq(vu.timeout_ms, 1000);
	ck_assert(!vhost_user_has_protocol_feature(&vu, VHOST_USER_PROTOCOL_F_REPLY_ACK));
	/* No PROTOCOL_FEATURES offered: none acked; no REPLY_ACK, so no wait. */
	ck_assert_int_eq(vhost_user_set_features(&vu, 0x5), 0);
	/* Requests that need protocol features are refused without being sent. */
	ck_assert_int_eq(vhost_user_reset_device(&vu), -EOPNOTSUPP);
	ck_assert_ptr_nonnull(strstr(vu.error, "RESET_DEVICE"));
	uint64_t n;
	char cfg[8];
	ck_assert_int_eq(vhost_user_get_queue_num(&vu, &n), -EOPNOTSUPP);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, cfg, sizeof(cfg)), -EOPNOTSUPP);
	ck_assert(!vu.broken);
	ck_assert_uint_eq(vu.messages_sent, 3);
	vut_finish();

	ck_assert_uint_eq(vut.ngot, 3);
	vut_expect(0, VHOST_USER_GET_FEATURES, false, 0, 0);
	vut_expect(1, VHOST_USER_SET_OWNER, false, 0, 0);
	ck_assert_uint_eq(vut_u64_at(vut_expect(2, VHOST_USER_SET_FEATURES, false, 8, 0), 0), 0x5);
}
END_TEST

START_TEST(default_timeout_when_zero)
{
	vut_script_open(0, 0, 0);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 0, 0), 0);
	ck_assert_uint_eq(vu.timeout_ms, VHOST_USER_DEFAULT_TIMEOUT_MS);
}
END_TEST

START_TEST(protocol_features_are_offered_and_asked)
{
	uint64_t offered = PF(VHOST_USER_PROTOCOL_F_MQ) | PF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			   PF(VHOST_USER_PROTOCOL_F_CONFIG) | PF(5) | PF(40);
	uint64_t wanted = PF(VHOST_USER_PROTOCOL_F_MQ) | PF(VHOST_USER_PROTOCOL_F_REPLY_ACK) |
			  PF(VHOST_USER_PROTOCOL_F_RESET_DEVICE);
	uint64_t agreed = PF(VHOST_USER_PROTOCOL_F_MQ) | PF(VHOST_USER_PROTOCOL_F_REPLY_ACK);

	vut_script_open(F_PROTOCOL | 0xff, offered, wanted);
	vut_reply_u64(VHOST_USER_SET_FEATURES, 0);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "net0", 1000, wanted), 0);
	ck_assert_uint_eq(vu.backend_features, F_PROTOCOL | 0xff);
	ck_assert_uint_eq(vu.protocol_features, agreed);
	ck_assert(vhost_user_has_protocol_feature(&vu, VHOST_USER_PROTOCOL_F_MQ));
	ck_assert(vhost_user_has_protocol_feature(&vu, VHOST_USER_PROTOCOL_F_REPLY_ACK));
	ck_assert(!vhost_user_has_protocol_feature(&vu, VHOST_USER_PROTOCOL_F_CONFIG));
	ck_assert(!vhost_user_has_protocol_feature(&vu, VHOST_USER_PROTOCOL_F_RESET_DEVICE));
	ck_assert(!vhost_user_has_protocol_feature(&vu, 64));
	/* SET_FEATURES acks PROTOCOL_FEATURES along with the driver's features. */
	ck_assert_int_eq(vhost_user_set_features(&vu, PF(32) | 1), 0);
	vut_finish();

	ck_assert_uint_eq(vut.ngot, 5);
	vut_expect(0, VHOST_USER_GET_FEATURES, false, 0, 0);
	vut_expect(1, VHOST_USER_GET_PROTOCOL_FEATURES, false, 0, 0);
	/* REPLY_ACK is not yet in force for SET_PROTOCOL_FEATURES itself. */
	ck_assert_uint_eq(
	    vut_u64_at(vut_expect(2, VHOST_USER_SET_PROTOCOL_FEATURES, false, 8, 0), 0), agreed);
	vut_expect(3, VHOST_USER_SET_OWNER, true, 0, 0);
	ck_assert_uint_eq(vut_u64_at(vut_expect(4, VHOST_USER_SET_FEATURES, true, 8, 0), 0),
			  PF(32) | F_PROTOCOL | 1);
}
END_TEST

START_TEST(every_call_sends_the_right_bytes)
{
	struct vhost_user_mem_region regions[2];
	uint8_t config[8] = {1, 2, 3, 4, 5, 6, 7, 8}, got_config[8];
	uint8_t config_reply[12 + 8];
	uint32_t cfg_hdr[3] = {0, 8, 0};
	uint8_t state[8];
	uint32_t ring = 1, base = 42;
	uint64_t queues = 0;
	unsigned int vring_base = 0;
	int memfd[2], kick = eventfd(0, EFD_CLOEXEC), err = eventfd(0, EFD_CLOEXEC);
	ino_t memfd_ino[2], kick_ino = vut_ino_of(kick), err_ino = vut_ino_of(err);
	const struct vut_msg *m;

	for (int i = 0; i < 2; i++) {
		memfd[i] = memfd_create("vu-test", MFD_CLOEXEC);
		ck_assert_int_ge(memfd[i], 0);
		memfd_ino[i] = vut_ino_of(memfd[i]);
		regions[i] = (struct vhost_user_mem_region){
		    .guest_phys_addr = 0x100000ull * i,
		    .memory_size = 0x80000 + i,
		    .userspace_addr = 0x7f0000000000ull + 0x1000 * i,
		    .mmap_offset = 0x2000ull * i,
		    .fd = memfd[i],
		};
	}
	memcpy(config_reply, cfg_hdr, 12);
	memcpy(config_reply + 12, config, 8);
	memcpy(state, &ring, 4);
	memcpy(state + 4, &base, 4);

	vut_script_open(F_PROTOCOL, ALL_PROTO, ALL_PROTO);
	vut_reply_u64(VHOST_USER_GET_QUEUE_NUM, 4);
	vut_reply_raw(VHOST_USER_GET_CONFIG, REPLY_FLAGS, 20, config_reply, 20);
	vut_reply_u64(VHOST_USER_SET_FEATURES, 0);
	vut_reply_u64(VHOST_USER_SET_MEM_TABLE, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_NUM, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_BASE, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_ADDR, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_KICK, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_CALL, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_ERR, 0);
	vut_reply_u64(VHOST_USER_SET_VRING_ENABLE, 0);
	vut_reply_raw(VHOST_USER_GET_VRING_BASE, REPLY_FLAGS, 8, state, 8);
	vut_reply_u64(VHOST_USER_RESET_DEVICE, 0);
	vut_start();

	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "blk0", 1000, ALL_PROTO), 0);
	ck_assert_int_eq(vhost_user_get_queue_num(&vu, &queues), 0);
	ck_assert_uint_eq(queues, 4);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, got_config, 8), 0);
	ck_assert_mem_eq(got_config, config, 8);
	ck_assert_int_eq(vhost_user_set_features(&vu, 0x3), 0);
	ck_assert_int_eq(vhost_user_set_mem_table(&vu, regions, 2), 0);
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 1, 256), 0);
	ck_assert_int_eq(vhost_user_set_vring_base(&vu, 1, 7), 0);
	ck_assert_int_eq(
	    vhost_user_set_vring_addr(&vu, 1, 0x7f0000001000, 0x7f0000002000, 0x7f0000003000), 0);
	ck_assert_int_eq(vhost_user_set_vring_kick(&vu, 1, kick), 0);
	ck_assert_int_eq(vhost_user_set_vring_call(&vu, 1, -1), 0);
	ck_assert_int_eq(vhost_user_set_vring_err(&vu, 255, err), 0);
	ck_assert_int_eq(vhost_user_set_vring_enable(&vu, 1, true), 0);
	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 1, &vring_base), 0);
	ck_assert_uint_eq(vring_base, 42);
	ck_assert_int_eq(vhost_user_reset_device(&vu), 0);
	ck_assert(!vu.broken);
	ck_assert_uint_eq(vu.messages_sent, 4 + 13);
	ck_assert_uint_eq(vu.replies_refused, 0);
	/* Lent descriptors stay open. */
	ck_assert_int_ge(fcntl(kick, F_GETFD), 0);
	ck_assert_int_ge(fcntl(memfd[0], F_GETFD), 0);
	vut_finish();

	ck_assert_uint_eq(vut.ngot, 17);
	vut_expect(4, VHOST_USER_GET_QUEUE_NUM, false, 0, 0);
	m = vut_expect(5, VHOST_USER_GET_CONFIG, false, 12 + 8, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 0);
	ck_assert_uint_eq(vut_u32_at(m, 4), 8);
	ck_assert_uint_eq(vut_u32_at(m, 8), 0);
	ck_assert_uint_eq(vut_u64_at(vut_expect(6, VHOST_USER_SET_FEATURES, true, 8, 0), 0),
			  F_PROTOCOL | 0x3);

	m = vut_expect(7, VHOST_USER_SET_MEM_TABLE, true, 8 + 2 * 32, 2);
	ck_assert_uint_eq(vut_u32_at(m, 0), 2);
	ck_assert_uint_eq(vut_u32_at(m, 4), 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_uint_eq(vut_u64_at(m, 8 + 32 * i), regions[i].guest_phys_addr);
		ck_assert_uint_eq(vut_u64_at(m, 16 + 32 * i), regions[i].memory_size);
		ck_assert_uint_eq(vut_u64_at(m, 24 + 32 * i), regions[i].userspace_addr);
		ck_assert_uint_eq(vut_u64_at(m, 32 + 32 * i), regions[i].mmap_offset);
		ck_assert_uint_eq(m->fd_ino[i], memfd_ino[i]);
	}
	m = vut_expect(8, VHOST_USER_SET_VRING_NUM, true, 8, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 1);
	ck_assert_uint_eq(vut_u32_at(m, 4), 256);
	m = vut_expect(9, VHOST_USER_SET_VRING_BASE, true, 8, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 1);
	ck_assert_uint_eq(vut_u32_at(m, 4), 7);
	m = vut_expect(10, VHOST_USER_SET_VRING_ADDR, true, 40, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 1);
	ck_assert_uint_eq(vut_u32_at(m, 4), 0);
	ck_assert_uint_eq(vut_u64_at(m, 8), 0x7f0000001000);  /* descriptors */
	ck_assert_uint_eq(vut_u64_at(m, 16), 0x7f0000003000); /* used */
	ck_assert_uint_eq(vut_u64_at(m, 24), 0x7f0000002000); /* available */
	ck_assert_uint_eq(vut_u64_at(m, 32), 0);	      /* log */
	m = vut_expect(11, VHOST_USER_SET_VRING_KICK, true, 8, 1);
	ck_assert_uint_eq(vut_u64_at(m, 0), 1);
	ck_assert_uint_eq(m->fd_ino[0], kick_ino);
	m = vut_expect(12, VHOST_USER_SET_VRING_CALL, true, 8, 0);
	ck_assert_uint_eq(vut_u64_at(m, 0), 1 | VHOST_USER_VRING_NOFD);
	m = vut_expect(13, VHOST_USER_SET_VRING_ERR, true, 8, 1);
	ck_assert_uint_eq(vut_u64_at(m, 0), 255);
	ck_assert_uint_eq(m->fd_ino[0], err_ino);
	m = vut_expect(14, VHOST_USER_SET_VRING_ENABLE, true, 8, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 1);
	ck_assert_uint_eq(vut_u32_at(m, 4), 1);
	m = vut_expect(15, VHOST_USER_GET_VRING_BASE, false, 8, 0);
	ck_assert_uint_eq(vut_u32_at(m, 0), 1);
	vut_expect(16, VHOST_USER_RESET_DEVICE, true, 0, 0);
	close(kick);
	close(err);
	close(memfd[0]);
	close(memfd[1]);
}
END_TEST

START_TEST(without_reply_ack_nothing_is_awaited)
{
	struct vhost_user_mem_region region = {.memory_size = 0x1000, .fd = eventfd(0, 0)};
	uint64_t offered = PF(VHOST_USER_PROTOCOL_F_REPLY_ACK) | PF(VHOST_USER_PROTOCOL_F_MQ);

	/* The back-end offers REPLY_ACK but minivmm does not ask for it. */
	vut_script_open(F_PROTOCOL, offered, PF(VHOST_USER_PROTOCOL_F_MQ));
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, PF(VHOST_USER_PROTOCOL_F_MQ)),
			 0);
	ck_assert_uint_eq(vu.protocol_features, PF(VHOST_USER_PROTOCOL_F_MQ));
	ck_assert_int_eq(vhost_user_set_mem_table(&vu, &region, 1), 0);
	ck_assert_int_eq(vhost_user_set_vring_kick(&vu, 0, -1), 0);
	ck_assert_int_eq(vhost_user_set_vring_enable(&vu, 0, false), 0);
	vut_finish();

	ck_assert_uint_eq(vut.ngot, 7);
	vut_expect(3, VHOST_USER_SET_OWNER, false, 0, 0);
	vut_expect(4, VHOST_USER_SET_MEM_TABLE, false, 8 + 32, 1);
	ck_assert_uint_eq(vut_u64_at(vut_expect(5, VHOST_USER_SET_VRING_KICK, false, 8, 0), 0),
			  VHOST_USER_VRING_NOFD);
	ck_assert_uint_eq(vut_u32_at(vut_expect(6, VHOST_USER_SET_VRING_ENABLE, false, 8, 0), 4),
			  0);
	close(region.fd);
}
END_TEST

START_TEST(refused_request_fails_without_breaking)
{
	vut_script_open(F_PROTOCOL, ALL_PROTO, ALL_PROTO);
	vut_reply_u64(VHOST_USER_SET_VRING_NUM, 1);
	vut_reply_u64(VHOST_USER_SET_VRING_BASE, 0);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), 0);
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 0, 1024), -EIO);
	ck_assert_str_eq(vu.error, "back-end refused SET_VRING_NUM (status 1)");
	ck_assert(!vu.broken);
	ck_assert_int_eq(vhost_user_set_vring_base(&vu, 0, 0), 0);
	ck_assert_str_eq(vu.error, ""); /* the last call succeeded */
	ck_assert_uint_eq(vu.replies_refused, 0);
}
END_TEST

START_TEST(refused_owner_fails_connect)
{
	vut_reply_u64(VHOST_USER_GET_FEATURES, F_PROTOCOL);
	vut_reply_u64(VHOST_USER_GET_PROTOCOL_FEATURES, ALL_PROTO);
	vut_silent();
	vut_reply_u64(VHOST_USER_SET_OWNER, 22);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), -EIO);
	ck_assert_str_eq(vu.error, "back-end refused SET_OWNER (status 22)");
	ck_assert_int_eq(vu.sock, -1);
}
END_TEST

START_TEST(silent_backend_times_out)
{
	uint64_t start;

	vut_silent();
	vut_start();
	start = vut_now_ms();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 200, 0), -ETIMEDOUT);
	ck_assert_uint_ge(vut_now_ms() - start, 190);
	ck_assert_uint_lt(vut_now_ms() - start, 2000);
	ck_assert_str_eq(vu.error, "back-end did not answer GET_FEATURES within 200 ms");
	ck_assert(vu.broken);
	ck_assert_int_eq(vu.sock, -1);
}
END_TEST

START_TEST(broken_connection_fails_at_once)
{
	unsigned int base;
	uint64_t start;

	vut_script_open(0, 0, 0);
	vut_silent(); /* GET_VRING_BASE, never answered */
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 200, 0), 0);
	start = vut_now_ms();
	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 0, &base), -ETIMEDOUT);
	ck_assert_uint_ge(vut_now_ms() - start, 190);
	ck_assert(vu.broken);
	ck_assert_str_eq(vu.error, "back-end did not answer GET_VRING_BASE within 200 ms");
	start = vut_now_ms();
	ck_assert_int_eq(vhost_user_set_vring_num(&vu, 0, 8), -EPIPE);
	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 0, &base), -EPIPE);
	ck_assert_int_eq(vhost_user_set_features(&vu, 0), -EPIPE);
	ck_assert_uint_lt(vut_now_ms() - start, 150); /* less than one timeout */
	/* The reason stays. */
	ck_assert_str_eq(vu.error, "back-end did not answer GET_VRING_BASE within 200 ms");
	vut_finish();
	ck_assert_uint_eq(vut.ngot, 3); /* nothing sent after the break */
}
END_TEST

START_TEST(backend_closing_mid_conversation)
{
	vut_reply_u64(VHOST_USER_GET_FEATURES, F_PROTOCOL);
	vut_step()->close_after = true;
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), -ECONNRESET);
	ck_assert_str_eq(vu.error, "back-end closed the connection during GET_PROTOCOL_FEATURES");
	ck_assert(vu.broken);
}
END_TEST

START_TEST(backend_closing_inside_a_reply)
{
	uint64_t v = 0;

	/* Header complete, 3 of 8 payload bytes, then gone. */
	vut_reply_raw(VHOST_USER_GET_FEATURES, REPLY_FLAGS, 8, &v, 3)->close_after = true;
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, 0), -ECONNRESET);
	ck_assert_str_eq(vu.error, "back-end closed the connection during GET_FEATURES");
}
END_TEST

START_TEST(partial_header_times_out)
{
	struct vut_step *s = vut_reply_u64(VHOST_USER_GET_FEATURES, 0);

	s->reply_len = 5;
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 200, 0), -ETIMEDOUT);
	ck_assert_str_eq(vu.error, "back-end did not answer GET_FEATURES within 200 ms");
}
END_TEST

/* Malformed replies to GET_FEATURES, and what vu->error must say. */
static const struct {
	uint32_t request, flags, size;
	size_t payload_len;
	const char *why;
} bad_replies[] = {
    {VHOST_USER_GET_PROTOCOL_FEATURES, REPLY_FLAGS, 8, 8, "request code 15, expected 1"},
    {VHOST_USER_GET_FEATURES, REPLY_FLAGS, 4, 4, "payload size 4, expected 8"},
    {VHOST_USER_GET_FEATURES, REPLY_FLAGS, 16, 16, "payload size 16, expected 8"},
    {VHOST_USER_GET_FEATURES, REPLY_FLAGS, 0xffffffff, 0, "payload size 4294967295, expected 8"},
    {VHOST_USER_GET_FEATURES, VHOST_USER_VERSION, 8, 8, "lack the REPLY bit"},
    {VHOST_USER_GET_FEATURES, 2 | VHOST_USER_FLAG_REPLY, 8, 8, "version 2, expected 1"},
    {VHOST_USER_GET_FEATURES, VHOST_USER_FLAG_REPLY, 8, 8, "version 0, expected 1"},
};

START_TEST(malformed_replies_break_the_connection)
{
	uint8_t payload[16] = {0};

	vut_reply_raw(bad_replies[_i].request, bad_replies[_i].flags, bad_replies[_i].size, payload,
		      bad_replies[_i].payload_len);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, 0), -EPROTO);
	ck_assert_ptr_nonnull(strstr(vu.error, "malformed reply to GET_FEATURES: "));
	ck_assert_msg(strstr(vu.error, bad_replies[_i].why), "error '%s' lacks '%s'", vu.error,
		      bad_replies[_i].why);
	ck_assert(vu.broken);
	ck_assert_uint_eq(vu.replies_refused, 1);
}
END_TEST

START_TEST(reply_with_fd_is_refused_and_fd_closed)
{
	int efd = eventfd(0, EFD_CLOEXEC);
	unsigned int before;

	vut_reply_u64(VHOST_USER_GET_FEATURES, 0)->reply_fd = efd;
	vut_start();
	before = vut_open_fds();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, 0), -EPROTO);
	ck_assert_str_eq(vu.error, "malformed reply to GET_FEATURES: 1 file descriptor attached");
	vut_finish();
	/* The socket and the received copy of the eventfd are both closed. */
	ck_assert_uint_eq(vut_open_fds(), before);
	close(efd);
}
END_TEST

START_TEST(get_config_checks_the_echo)
{
	uint8_t reply[12 + 8] = {0}, buf[8] = {0xaa};
	uint32_t offset = 4, size = 8;

	/* Asked at offset 0, answered for offset 4. */
	memcpy(reply, &offset, 4);
	memcpy(reply + 4, &size, 4);
	vut_script_open(F_PROTOCOL, ALL_PROTO, ALL_PROTO);
	vut_reply_raw(VHOST_USER_GET_CONFIG, REPLY_FLAGS, 20, reply, 20);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), 0);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, buf, 8), -EPROTO);
	ck_assert_str_eq(vu.error, "malformed reply to GET_CONFIG: offset 4, expected 0");
	ck_assert(vu.broken);
	ck_assert_uint_eq(buf[0], 0xaa); /* untouched */
	ck_assert_uint_eq(vu.replies_refused, 1);
}
END_TEST

START_TEST(get_config_checks_the_size)
{
	uint8_t reply[12 + 8] = {0}, buf[8];
	uint32_t size = 4;

	/* The message is sized for 8 bytes, the payload says 4. */
	memcpy(reply + 4, &size, 4);
	vut_script_open(F_PROTOCOL, ALL_PROTO, ALL_PROTO);
	vut_reply_raw(VHOST_USER_GET_CONFIG, REPLY_FLAGS, 20, reply, 20);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), 0);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, buf, 8), -EPROTO);
	ck_assert_str_eq(vu.error, "malformed reply to GET_CONFIG: config size 4, expected 8");
}
END_TEST

START_TEST(get_vring_base_checks_the_ring)
{
	uint32_t state[2] = {3, 10};
	unsigned int base = 77;

	vut_script_open(0, 0, 0);
	vut_reply_raw(VHOST_USER_GET_VRING_BASE, REPLY_FLAGS, 8, state, 8);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, 0), 0);
	ck_assert_int_eq(vhost_user_get_vring_base(&vu, 1, &base), -EPROTO);
	ck_assert_str_eq(vu.error, "malformed reply to GET_VRING_BASE: ring 3, expected 1");
	ck_assert_uint_eq(base, 77);
}
END_TEST

START_TEST(bad_arguments_are_refused_before_sending)
{
	struct vhost_user_mem_region regions[VHOST_USER_MAX_MEM_REGIONS + 1] = {{0}};
	uint8_t buf[VHOST_USER_MAX_CONFIG_SIZE + 1];

	vut_script_open(F_PROTOCOL, ALL_PROTO, ALL_PROTO);
	vut_start();
	ck_assert_int_eq(vhost_user_connect(&vu, vut.path, "t", 1000, ALL_PROTO), 0);
	for (unsigned int i = 0; i < ARRAY_SIZE(regions); i++)
		regions[i].fd = 0;
	ck_assert_int_eq(vhost_user_set_mem_table(&vu, regions, VHOST_USER_MAX_MEM_REGIONS + 1),
			 -EINVAL);
	ck_assert_ptr_nonnull(strstr(vu.error, "at most 8"));
	regions[1].fd = -1;
	ck_assert_int_eq(vhost_user_set_mem_table(&vu, regions, 2), -EINVAL);
	ck_assert_int_eq(vhost_user_set_vring_kick(&vu, 256, -1), -EINVAL);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, buf, 0), -EINVAL);
	ck_assert_int_eq(vhost_user_get_config(&vu, 0, buf, sizeof(buf)), -EINVAL);
	ck_assert(!vu.broken);
	vut_finish();
	ck_assert_uint_eq(vut.ngot, 4);
}
END_TEST

START_TEST(check_reply_direct)
{
	uint8_t msg[12 + 8] = {0};
	uint32_t req = VHOST_USER_GET_QUEUE_NUM, flags = REPLY_FLAGS, size = 8;
	char why[96] = "";

	memcpy(msg, &req, 4);
	memcpy(msg + 4, &flags, 4);
	memcpy(msg + 8, &size, 4);
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 20, 0, 8, why, sizeof(why)), 0);
	/* Unknown flag bits beyond NEED_REPLY are tolerated. */
	flags |= 1u << 20;
	memcpy(msg + 4, &flags, 4);
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 20, 0, 8, why, sizeof(why)), 0);
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 19, 0, 8, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "19 bytes received, the header announces 20");
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 11, 0, 8, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "11 bytes, shorter than a header");
	ck_assert_int_eq(vhost_user_check_reply(req, NULL, 20, 0, 8, why, sizeof(why)), -EPROTO);
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 20, 2, 8, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "2 file descriptors attached");
	ck_assert_int_eq(
	    vhost_user_check_reply(VHOST_USER_GET_FEATURES, msg, 20, 0, 8, why, sizeof(why)),
	    -EPROTO);
	/* GET_CONFIG: shorter than its own header. */
	req = VHOST_USER_GET_CONFIG;
	memcpy(msg, &req, 4);
	ck_assert_int_eq(vhost_user_check_reply(req, msg, 20, 0, 8, why, sizeof(why)), -EPROTO);
	ck_assert_str_eq(why, "payload size 8, shorter than 12");
}
END_TEST

START_TEST(attach_to_a_connected_socket)
{
	int sv[2];
	uint8_t reply[12 + 8];
	uint32_t req = VHOST_USER_GET_FEATURES, flags = REPLY_FLAGS, size = 8;
	uint64_t features = 0x42;

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	memcpy(reply, &req, 4);
	memcpy(reply + 4, &flags, 4);
	memcpy(reply + 8, &size, 4);
	memcpy(reply + 12, &features, 8);
	/* The whole answer is queued in advance; SET_OWNER needs none. */
	ck_assert_int_eq(write(sv[1], reply, sizeof(reply)), (ssize_t)sizeof(reply));
	ck_assert_int_eq(vhost_user_attach(&vu, sv[0], "pair", 200, 0), 0);
	ck_assert_uint_eq(vu.backend_features, 0x42);
	ck_assert_int_eq(vu.sock, sv[0]);
	vhost_user_close(&vu);
	close(sv[1]);
}
END_TEST

Suite *vhost_user_suite(void)
{
	Suite *s = suite_create("vhost_user");
	TCase *tc;

	tc = unit_tcase(
	    s, "vhost_user", vut_setup, vut_teardown,
	    UNIT_TESTS(connect_errors_are_clear, socket_without_listener_is_refused,
		       open_without_protocol_features, default_timeout_when_zero,
		       protocol_features_are_offered_and_asked, every_call_sends_the_right_bytes,
		       without_reply_ack_nothing_is_awaited, refused_request_fails_without_breaking,
		       refused_owner_fails_connect, silent_backend_times_out,
		       broken_connection_fails_at_once, backend_closing_mid_conversation,
		       backend_closing_inside_a_reply, partial_header_times_out,
		       reply_with_fd_is_refused_and_fd_closed, get_config_checks_the_echo,
		       get_config_checks_the_size, get_vring_base_checks_the_ring,
		       bad_arguments_are_refused_before_sending, check_reply_direct,
		       attach_to_a_connected_socket));
	unit_loop_tests(tc, (int)ARRAY_SIZE(bad_replies),
			UNIT_TESTS(malformed_replies_break_the_connection));
	return s;
}

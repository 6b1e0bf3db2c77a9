/*
 * The front-end side of the vhost-user protocol: message encoding, the
 * bounded socket I/O and the checks every reply must pass (vhost_user.h).
 *
 * Wire format (QEMU docs/interop/vhost-user.rst), all in host byte order:
 * a 12-byte header {request u32, flags u32, size u32} followed by size
 * bytes of payload; descriptors travel as SCM_RIGHTS with the message.
 * The socket stays non-blocking: every transfer polls first, and the poll
 * timeouts of one message add up to at most the connection's timeout, so
 * a back-end that stops reading or answering costs one timeout, not a
 * hang.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "devices/vhost_user/vhost_user.h"
#include "log.h"
#include "util.h"

#define VU_HDR_SIZE 12u
/* The largest payload minivmm sends or accepts: GET_CONFIG with 256 bytes of config space. */
#define VU_CONFIG_HDR_SIZE   12u
#define VU_MAX_PAYLOAD	     (VU_CONFIG_HDR_SIZE + VHOST_USER_MAX_CONFIG_SIZE)
#define VU_REGION_SIZE	     32u /* guest_phys_addr, memory_size, userspace_addr, mmap_offset */
#define VU_MEM_TABLE_SIZE(n) (8u + (n)*VU_REGION_SIZE)
#define VU_VRING_STATE_SIZE  8u
#define VU_VRING_ADDR_SIZE   40u
/* Room for the descriptors a misbehaving back-end may attach to one read. */
#define VU_MAX_RECV_FDS 16

_Static_assert(VU_MEM_TABLE_SIZE(VHOST_USER_MAX_MEM_REGIONS) <= VU_MAX_PAYLOAD,
	       "a full memory table fits the message buffer");

static const char *const vu_request_names[] = {
    [VHOST_USER_GET_FEATURES] = "GET_FEATURES",
    [VHOST_USER_SET_FEATURES] = "SET_FEATURES",
    [VHOST_USER_SET_OWNER] = "SET_OWNER",
    [VHOST_USER_RESET_OWNER] = "RESET_OWNER",
    [VHOST_USER_SET_MEM_TABLE] = "SET_MEM_TABLE",
    [VHOST_USER_SET_VRING_NUM] = "SET_VRING_NUM",
    [VHOST_USER_SET_VRING_ADDR] = "SET_VRING_ADDR",
    [VHOST_USER_SET_VRING_BASE] = "SET_VRING_BASE",
    [VHOST_USER_GET_VRING_BASE] = "GET_VRING_BASE",
    [VHOST_USER_SET_VRING_KICK] = "SET_VRING_KICK",
    [VHOST_USER_SET_VRING_CALL] = "SET_VRING_CALL",
    [VHOST_USER_SET_VRING_ERR] = "SET_VRING_ERR",
    [VHOST_USER_GET_PROTOCOL_FEATURES] = "GET_PROTOCOL_FEATURES",
    [VHOST_USER_SET_PROTOCOL_FEATURES] = "SET_PROTOCOL_FEATURES",
    [VHOST_USER_GET_QUEUE_NUM] = "GET_QUEUE_NUM",
    [VHOST_USER_SET_VRING_ENABLE] = "SET_VRING_ENABLE",
    [VHOST_USER_GET_CONFIG] = "GET_CONFIG",
    [VHOST_USER_RESET_DEVICE] = "RESET_DEVICE",
};

static const char *vu_request_name(uint32_t request)
{
	if (request < ARRAY_SIZE(vu_request_names) && vu_request_names[request])
		return vu_request_names[request];
	return "an unknown request";
}

/* One message on its way out: header and payload in one buffer, plus descriptors. */
struct vu_msg {
	uint8_t bytes[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	uint32_t size; /* payload bytes */
	const int *fds;
	unsigned int nr_fds;
};

static void vu_put_u32(uint8_t *p, uint32_t v)
{
	memcpy(p, &v, sizeof(v));
}

static void vu_put_u64(uint8_t *p, uint64_t v)
{
	memcpy(p, &v, sizeof(v));
}

static uint32_t vu_get_u32(const uint8_t *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint64_t vu_get_u64(const uint8_t *p)
{
	uint64_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

static uint8_t *vu_msg_payload(struct vu_msg *m)
{
	return m->bytes + VU_HDR_SIZE;
}

static void vu_set_error(struct vhost_user *vu, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
static void vu_set_error(struct vhost_user *vu, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(vu->error, sizeof(vu->error), fmt, ap);
	va_end(ap);
}

/* Marks the connection broken with err and the reason already in vu->error. */
static int vu_break(struct vhost_user *vu, int err)
{
	vu->broken = true;
	log_debug("vhost-user %s: connection broken: %s", vu->name, vu->error);
	return err;
}

static uint64_t vu_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t vu_deadline(const struct vhost_user *vu)
{
	return vu_now_ns() + (uint64_t)vu->timeout_ms * 1000000u;
}

/*
 * Waits until fd has the events or the deadline passes: 1 ready, 0 timed
 * out, -errno.  POLLERR/POLLHUP count as ready: the transfer that follows
 * reports what happened.
 */
static int vu_wait(int fd, short events, uint64_t deadline)
{
	for (;;) {
		struct pollfd pfd = {.fd = fd, .events = events};
		uint64_t now = vu_now_ns();
		uint64_t left_ms;
		int r;

		if (now >= deadline)
			return 0;
		left_ms = (deadline - now + 999999u) / 1000000u;
		r = poll(&pfd, 1, left_ms > INT32_MAX ? INT32_MAX : (int)left_ms);
		if (r > 0)
			return 1;
		if (r < 0 && errno != EINTR)
			return -errno;
	}
}

/* Sends the whole message, its descriptors with the first bytes. */
static int vu_send(struct vhost_user *vu, uint32_t request, const struct vu_msg *m)
{
	const char *what = vu_request_name(request);
	size_t len = VU_HDR_SIZE + m->size, off = 0;
	uint64_t deadline = vu_deadline(vu);
	char control[CMSG_SPACE(sizeof(int) * VHOST_USER_MAX_MEM_REGIONS)];

	while (off < len) {
		struct iovec iov = {.iov_base = (void *)(m->bytes + off), .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
		ssize_t n;
		int r;

		r = vu_wait(vu->sock, POLLOUT, deadline);
		if (r == 0) {
			vu_set_error(vu, "back-end did not accept %s within %u ms", what,
				     vu->timeout_ms);
			return vu_break(vu, -ETIMEDOUT);
		}
		if (r < 0) {
			vu_set_error(vu, "sending %s: %s", what, strerror(-r));
			return vu_break(vu, r);
		}
		if (off == 0 && m->nr_fds) {
			struct cmsghdr *c;

			memset(control, 0, sizeof(control));
			mh.msg_control = control;
			mh.msg_controllen = CMSG_SPACE(sizeof(int) * m->nr_fds);
			c = CMSG_FIRSTHDR(&mh);
			c->cmsg_level = SOL_SOCKET;
			c->cmsg_type = SCM_RIGHTS;
			c->cmsg_len = CMSG_LEN(sizeof(int) * m->nr_fds);
			memcpy(CMSG_DATA(c), m->fds, sizeof(int) * m->nr_fds);
		}
		n = sendmsg(vu->sock, &mh, MSG_NOSIGNAL | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			vu_set_error(vu, "sending %s: %s", what, strerror(errno));
			return vu_break(vu, -errno);
		}
		off += (size_t)n;
	}
	vu->messages_sent++;
	return 0;
}

/* Closes the descriptors a received control buffer carries; returns how many. */
static unsigned int vu_close_received_fds(struct msghdr *mh)
{
	unsigned int count = 0;

	for (struct cmsghdr *c = CMSG_FIRSTHDR(mh); c; c = CMSG_NXTHDR(mh, c)) {
		size_t bytes;

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len < CMSG_LEN(0))
			continue;
		bytes = c->cmsg_len - CMSG_LEN(0);
		for (size_t i = 0; i + sizeof(int) <= bytes; i += sizeof(int)) {
			int fd;

			memcpy(&fd, CMSG_DATA(c) + i, sizeof(fd));
			close(fd);
			count++;
		}
	}
	/* Descriptors that did not fit were discarded by the kernel; they still count. */
	if (mh->msg_flags & MSG_CTRUNC)
		count++;
	return count;
}

/*
 * Receives exactly len bytes of the reply to request before the deadline,
 * adding the descriptors that came with them to *nr_fds (closed at once).
 */
static int vu_recv_bytes(struct vhost_user *vu, uint32_t request, uint8_t *buf, size_t len,
			 uint64_t deadline, unsigned int *nr_fds)
{
	const char *what = vu_request_name(request);
	size_t off = 0;

	while (off < len) {
		char control[CMSG_SPACE(sizeof(int) * VU_MAX_RECV_FDS)];
		struct iovec iov = {.iov_base = buf + off, .iov_len = len - off};
		struct msghdr mh = {.msg_iov = &iov,
				    .msg_iovlen = 1,
				    .msg_control = control,
				    .msg_controllen = sizeof(control)};
		ssize_t n;
		int r;

		r = vu_wait(vu->sock, POLLIN, deadline);
		if (r == 0) {
			vu_set_error(vu, "back-end did not answer %s within %u ms", what,
				     vu->timeout_ms);
			return vu_break(vu, -ETIMEDOUT);
		}
		if (r < 0) {
			vu_set_error(vu, "receiving the reply to %s: %s", what, strerror(-r));
			return vu_break(vu, r);
		}
		n = recvmsg(vu->sock, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
		if (n < 0) {
			if (errno == EINTR || errno == EAGAIN || errno == EWOULDBLOCK)
				continue;
			vu_set_error(vu, "receiving the reply to %s: %s", what, strerror(errno));
			return vu_break(vu, -errno);
		}
		*nr_fds += vu_close_received_fds(&mh);
		if (n == 0) {
			vu_set_error(vu, "back-end closed the connection during %s", what);
			return vu_break(vu, -ECONNRESET);
		}
		off += (size_t)n;
	}
	return 0;
}

int vhost_user_check_reply(uint32_t request, const void *buf, size_t len, unsigned int nr_fds,
			   uint32_t reply_size, char *why, size_t whysize)
{
	const uint8_t *p = buf;
	uint32_t req, flags, size;

	if (!buf || len < VU_HDR_SIZE) {
		snprintf(why, whysize, "%zu bytes, shorter than a header", buf ? len : 0);
		return -EPROTO;
	}
	req = vu_get_u32(p);
	flags = vu_get_u32(p + 4);
	size = vu_get_u32(p + 8);
	if (req != request) {
		snprintf(why, whysize, "request code %" PRIu32 ", expected %" PRIu32, req, request);
		return -EPROTO;
	}
	if ((flags & VHOST_USER_VERSION_MASK) != VHOST_USER_VERSION) {
		snprintf(why, whysize, "version %" PRIu32 ", expected %u",
			 flags & VHOST_USER_VERSION_MASK, VHOST_USER_VERSION);
		return -EPROTO;
	}
	if (!(flags & VHOST_USER_FLAG_REPLY)) {
		snprintf(why, whysize, "flags 0x%" PRIx32 " lack the REPLY bit", flags);
		return -EPROTO;
	}
	if (nr_fds) {
		snprintf(why, whysize, "%u file descriptor%s attached", nr_fds,
			 nr_fds == 1 ? "" : "s");
		return -EPROTO;
	}
	if (size != reply_size) {
		snprintf(why, whysize, "payload size %" PRIu32 ", expected %" PRIu32, size,
			 reply_size);
		return -EPROTO;
	}
	if (len != VU_HDR_SIZE + (size_t)size) {
		snprintf(why, whysize, "%zu bytes received, the header announces %zu", len,
			 VU_HDR_SIZE + (size_t)size);
		return -EPROTO;
	}
	if (request == VHOST_USER_GET_CONFIG) {
		uint32_t cfg_size;

		if (size < VU_CONFIG_HDR_SIZE) {
			snprintf(why, whysize, "payload size %" PRIu32 ", shorter than %u", size,
				 VU_CONFIG_HDR_SIZE);
			return -EPROTO;
		}
		cfg_size = vu_get_u32(p + VU_HDR_SIZE + 4);
		if (cfg_size != size - VU_CONFIG_HDR_SIZE) {
			snprintf(why, whysize, "config size %" PRIu32 ", expected %" PRIu32,
				 cfg_size, size - VU_CONFIG_HDR_SIZE);
			return -EPROTO;
		}
	}
	return 0;
}

/* Receives the reply to request, reply_size bytes of payload, into reply (header included). */
static int vu_recv_reply(struct vhost_user *vu, uint32_t request, uint8_t *reply,
			 uint32_t reply_size)
{
	uint64_t deadline = vu_deadline(vu);
	unsigned int nr_fds = 0;
	size_t len = VU_HDR_SIZE;
	char why[96];
	int r;

	r = vu_recv_bytes(vu, request, reply, VU_HDR_SIZE, deadline, &nr_fds);
	if (r < 0)
		return r;
	/* A payload of another size is refused below: do not wait for it. */
	if (vu_get_u32(reply + 8) == reply_size && reply_size) {
		r = vu_recv_bytes(vu, request, reply + VU_HDR_SIZE, reply_size, deadline, &nr_fds);
		if (r < 0)
			return r;
		len += reply_size;
	}
	if (vhost_user_check_reply(request, reply, len, nr_fds, reply_size, why, sizeof(why))) {
		vu->replies_refused++;
		vu_set_error(vu, "malformed reply to %s: %s", vu_request_name(request), why);
		return vu_break(vu, -EPROTO);
	}
	return 0;
}

/* Fails at once when the connection cannot carry a request. */
static int vu_usable(struct vhost_user *vu)
{
	if (vu->broken)
		return -EPIPE;
	if (vu->sock < 0) {
		vu_set_error(vu, "vhost-user connection is not open");
		return -EPIPE;
	}
	vu->error[0] = 0; /* it says why the last call failed, not an earlier one */
	return 0;
}

static void vu_msg_init(struct vu_msg *m, uint32_t request, uint32_t flags, uint32_t size)
{
	m->size = size;
	m->fds = NULL;
	m->nr_fds = 0;
	vu_put_u32(m->bytes, request);
	vu_put_u32(m->bytes + 4, VHOST_USER_VERSION | flags);
	vu_put_u32(m->bytes + 8, size);
}

/*
 * A request the back-end answers only on demand: with REPLY_ACK
 * negotiated it is asked to (NEED_REPLY) and a non-zero status fails the
 * call with -EIO; the connection stays usable.
 */
static int vu_call(struct vhost_user *vu, uint32_t request, struct vu_msg *m)
{
	bool ack = vhost_user_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK);
	uint8_t reply[VU_HDR_SIZE + 8];
	uint64_t status;
	int r;

	if (ack)
		vu_put_u32(m->bytes + 4, vu_get_u32(m->bytes + 4) | VHOST_USER_FLAG_NEED_REPLY);
	r = vu_send(vu, request, m);
	if (r < 0 || !ack)
		return r;
	r = vu_recv_reply(vu, request, reply, 8);
	if (r < 0)
		return r;
	status = vu_get_u64(reply + VU_HDR_SIZE);
	if (status) {
		vu_set_error(vu, "back-end refused %s (status %" PRIu64 ")",
			     vu_request_name(request), status);
		return -EIO;
	}
	return 0;
}

/* A request with a reply of reply_size bytes by definition, received into reply. */
static int vu_query(struct vhost_user *vu, uint32_t request, struct vu_msg *m, uint8_t *reply,
		    uint32_t reply_size)
{
	int r = vu_send(vu, request, m);

	return r < 0 ? r : vu_recv_reply(vu, request, reply, reply_size);
}

static int vu_query_u64(struct vhost_user *vu, uint32_t request, uint64_t *value)
{
	struct vu_msg m;
	uint8_t reply[VU_HDR_SIZE + 8];
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, request, 0, 0);
	r = vu_query(vu, request, &m, reply, 8);
	if (r == 0)
		*value = vu_get_u64(reply + VU_HDR_SIZE);
	return r;
}

static int vu_call_u64(struct vhost_user *vu, uint32_t request, uint64_t value)
{
	struct vu_msg m;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, request, 0, 8);
	vu_put_u64(vu_msg_payload(&m), value);
	return vu_call(vu, request, &m);
}

static int vu_call_state(struct vhost_user *vu, uint32_t request, unsigned int index,
			 unsigned int num)
{
	struct vu_msg m;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, request, 0, VU_VRING_STATE_SIZE);
	vu_put_u32(vu_msg_payload(&m), index);
	vu_put_u32(vu_msg_payload(&m) + 4, num);
	return vu_call(vu, request, &m);
}

static int vu_call_empty(struct vhost_user *vu, uint32_t request)
{
	struct vu_msg m;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, request, 0, 0);
	return vu_call(vu, request, &m);
}

/* The opening conversation on a connected socket (vhost_user_connect). */
static int vu_handshake(struct vhost_user *vu, uint64_t wanted_protocol_features)
{
	uint64_t offered;
	int r;

	r = vu_query_u64(vu, VHOST_USER_GET_FEATURES, &vu->backend_features);
	if (r < 0)
		return r;
	if (vu->backend_features & BIT(VHOST_USER_F_PROTOCOL_FEATURES)) {
		r = vu_query_u64(vu, VHOST_USER_GET_PROTOCOL_FEATURES, &offered);
		if (r < 0)
			return r;
		/* Sent before REPLY_ACK is in force, so without NEED_REPLY. */
		r = vu_call_u64(vu, VHOST_USER_SET_PROTOCOL_FEATURES,
				offered & wanted_protocol_features);
		if (r < 0)
			return r;
		vu->protocol_features = offered & wanted_protocol_features;
	}
	return vu_call_empty(vu, VHOST_USER_SET_OWNER);
}

static void vu_init(struct vhost_user *vu, const char *name, unsigned int timeout_ms)
{
	memset(vu, 0, sizeof(*vu));
	vu->sock = -1;
	snprintf(vu->name, sizeof(vu->name), "%s", name ? name : "");
	vu->timeout_ms = timeout_ms ? timeout_ms : VHOST_USER_DEFAULT_TIMEOUT_MS;
}

/* Connects the non-blocking socket to path before the deadline: 0 or -errno with vu->error. */
static int vu_connect_socket(struct vhost_user *vu, const char *path)
{
	struct sockaddr_un addr = {.sun_family = AF_UNIX};
	uint64_t deadline = vu_deadline(vu);
	size_t len = strlen(path);

	if (len == 0) {
		vu_set_error(vu, "vhost-user socket path is empty");
		return -EINVAL;
	}
	if (len >= sizeof(addr.sun_path)) {
		vu_set_error(vu, "vhost-user socket path is %zu bytes long, at most %zu allowed",
			     len, sizeof(addr.sun_path) - 1);
		return -ENAMETOOLONG;
	}
	memcpy(addr.sun_path, path, len + 1);
	vu->sock = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	if (vu->sock < 0) {
		vu_set_error(vu, "vhost-user socket: %s", strerror(errno));
		return -errno;
	}
	for (;;) {
		int err = 0;
		socklen_t errlen = sizeof(err);
		int r;

		if (connect(vu->sock, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return 0;
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN) {
			/* The listener's backlog is full: try again shortly, within the deadline.
			 */
			if (vu_now_ns() >= deadline)
				break;
			poll(NULL, 0, 10);
			continue;
		}
		if (errno != EINPROGRESS) {
			vu_set_error(vu, "connect to %s: %s", path, strerror(errno));
			return -errno;
		}
		r = vu_wait(vu->sock, POLLOUT, deadline);
		if (r == 0)
			break;
		if (r > 0 && getsockopt(vu->sock, SOL_SOCKET, SO_ERROR, &err, &errlen) < 0)
			err = errno;
		if (r < 0)
			err = -r;
		if (err) {
			vu_set_error(vu, "connect to %s: %s", path, strerror(err));
			return -err;
		}
		return 0;
	}
	vu_set_error(vu, "connect to %s: no connection within %u ms", path, vu->timeout_ms);
	return -ETIMEDOUT;
}

int vhost_user_connect(struct vhost_user *vu, const char *path, const char *name,
		       unsigned int timeout_ms, uint64_t wanted_protocol_features)
{
	int r;

	vu_init(vu, name, timeout_ms);
	r = vu_connect_socket(vu, path ? path : "");
	if (r == 0)
		r = vu_handshake(vu, wanted_protocol_features);
	if (r < 0)
		vhost_user_close(vu);
	return r;
}

int vhost_user_attach(struct vhost_user *vu, int sock, const char *name, unsigned int timeout_ms,
		      uint64_t wanted_protocol_features)
{
	int flags, r;

	vu_init(vu, name, timeout_ms);
	vu->sock = sock;
	flags = fcntl(sock, F_GETFL);
	if (flags < 0 || fcntl(sock, F_SETFL, flags | O_NONBLOCK) < 0) {
		r = -errno;
		vu_set_error(vu, "vhost-user socket: %s", strerror(errno));
	} else {
		r = vu_handshake(vu, wanted_protocol_features);
	}
	if (r < 0)
		vhost_user_close(vu);
	return r;
}

void vhost_user_close(struct vhost_user *vu)
{
	if (vu->sock >= 0)
		close(vu->sock);
	vu->sock = -1;
}

bool vhost_user_has_protocol_feature(const struct vhost_user *vu, unsigned int bit)
{
	return bit < 64 && (vu->protocol_features & (1ull << bit));
}

/* -EOPNOTSUPP with a message when the protocol feature a request needs is missing. */
static int vu_need_feature(struct vhost_user *vu, unsigned int bit, uint32_t request,
			   const char *feature)
{
	if (vhost_user_has_protocol_feature(vu, bit))
		return 0;
	vu_set_error(vu, "%s needs protocol feature %s, not negotiated", vu_request_name(request),
		     feature);
	return -EOPNOTSUPP;
}

int vhost_user_get_queue_num(struct vhost_user *vu, uint64_t *num)
{
	int r = vu_usable(vu);

	if (r == 0)
		r = vu_need_feature(vu, VHOST_USER_PROTOCOL_F_MQ, VHOST_USER_GET_QUEUE_NUM, "MQ");
	return r < 0 ? r : vu_query_u64(vu, VHOST_USER_GET_QUEUE_NUM, num);
}

int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, void *buf, uint32_t size)
{
	uint8_t reply[VU_HDR_SIZE + VU_MAX_PAYLOAD];
	struct vu_msg m;
	uint32_t echoed;
	int r = vu_usable(vu);

	if (r == 0)
		r = vu_need_feature(vu, VHOST_USER_PROTOCOL_F_CONFIG, VHOST_USER_GET_CONFIG,
				    "CONFIG");
	if (r < 0)
		return r;
	if (size == 0 || size > VHOST_USER_MAX_CONFIG_SIZE) {
		vu_set_error(vu, "GET_CONFIG of %" PRIu32 " bytes: 1 to %u allowed", size,
			     VHOST_USER_MAX_CONFIG_SIZE);
		return -EINVAL;
	}
	vu_msg_init(&m, VHOST_USER_GET_CONFIG, 0, VU_CONFIG_HDR_SIZE + size);
	vu_put_u32(vu_msg_payload(&m), offset);
	vu_put_u32(vu_msg_payload(&m) + 4, size);
	vu_put_u32(vu_msg_payload(&m) + 8, 0); /* flags: none for a read */
	memset(vu_msg_payload(&m) + VU_CONFIG_HDR_SIZE, 0, size);
	r = vu_query(vu, VHOST_USER_GET_CONFIG, &m, reply, VU_CONFIG_HDR_SIZE + size);
	if (r < 0)
		return r;
	/* vhost_user_check_reply checked the echoed size; the offset is known only here. */
	echoed = vu_get_u32(reply + VU_HDR_SIZE);
	if (echoed != offset) {
		vu->replies_refused++;
		vu_set_error(vu,
			     "malformed reply to GET_CONFIG: offset %" PRIu32 ", expected %" PRIu32,
			     echoed, offset);
		return vu_break(vu, -EPROTO);
	}
	memcpy(buf, reply + VU_HDR_SIZE + VU_CONFIG_HDR_SIZE, size);
	return 0;
}

int vhost_user_set_features(struct vhost_user *vu, uint64_t features)
{
	/* Acking PROTOCOL_FEATURES keeps the rings disabled until SET_VRING_ENABLE. */
	if (vu->backend_features & BIT(VHOST_USER_F_PROTOCOL_FEATURES))
		features |= BIT(VHOST_USER_F_PROTOCOL_FEATURES);
	return vu_call_u64(vu, VHOST_USER_SET_FEATURES, features);
}

int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_mem_region *regions,
			     unsigned int n)
{
	int fds[VHOST_USER_MAX_MEM_REGIONS];
	struct vu_msg m;
	uint8_t *p;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	if (n > VHOST_USER_MAX_MEM_REGIONS) {
		vu_set_error(vu, "SET_MEM_TABLE with %u regions: at most %u allowed", n,
			     VHOST_USER_MAX_MEM_REGIONS);
		return -EINVAL;
	}
	vu_msg_init(&m, VHOST_USER_SET_MEM_TABLE, 0, VU_MEM_TABLE_SIZE(n));
	p = vu_msg_payload(&m);
	vu_put_u32(p, n);
	vu_put_u32(p + 4, 0); /* padding */
	for (unsigned int i = 0; i < n; i++) {
		uint8_t *reg = p + 8 + i * VU_REGION_SIZE;

		if (regions[i].fd < 0) {
			vu_set_error(vu, "SET_MEM_TABLE: region %u has no descriptor", i);
			return -EINVAL;
		}
		vu_put_u64(reg, regions[i].guest_phys_addr);
		vu_put_u64(reg + 8, regions[i].memory_size);
		vu_put_u64(reg + 16, regions[i].userspace_addr);
		vu_put_u64(reg + 24, regions[i].mmap_offset);
		fds[i] = regions[i].fd;
	}
	m.fds = fds;
	m.nr_fds = n;
	return vu_call(vu, VHOST_USER_SET_MEM_TABLE, &m);
}

int vhost_user_set_vring_num(struct vhost_user *vu, unsigned int index, unsigned int num)
{
	return vu_call_state(vu, VHOST_USER_SET_VRING_NUM, index, num);
}

int vhost_user_set_vring_base(struct vhost_user *vu, unsigned int index, unsigned int base)
{
	return vu_call_state(vu, VHOST_USER_SET_VRING_BASE, index, base);
}

int vhost_user_set_vring_addr(struct vhost_user *vu, unsigned int index, uint64_t desc,
			      uint64_t avail, uint64_t used)
{
	struct vu_msg m;
	uint8_t *p;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, VHOST_USER_SET_VRING_ADDR, 0, VU_VRING_ADDR_SIZE);
	p = vu_msg_payload(&m);
	vu_put_u32(p, index);
	vu_put_u32(p + 4, 0); /* flags: no used-ring logging */
	vu_put_u64(p + 8, desc);
	vu_put_u64(p + 16, used); /* the spec's order: descriptors, used, available, log */
	vu_put_u64(p + 24, avail);
	vu_put_u64(p + 32, 0);
	return vu_call(vu, VHOST_USER_SET_VRING_ADDR, &m);
}

static int vu_set_vring_fd(struct vhost_user *vu, uint32_t request, unsigned int index, int fd)
{
	struct vu_msg m;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	if (index > 0xff) {
		vu_set_error(vu, "%s for ring %u: at most 255 allowed", vu_request_name(request),
			     index);
		return -EINVAL;
	}
	vu_msg_init(&m, request, 0, 8);
	vu_put_u64(vu_msg_payload(&m), index | (fd < 0 ? VHOST_USER_VRING_NOFD : 0));
	if (fd >= 0) {
		m.fds = &fd;
		m.nr_fds = 1;
	}
	return vu_call(vu, request, &m);
}

int vhost_user_set_vring_kick(struct vhost_user *vu, unsigned int index, int fd)
{
	return vu_set_vring_fd(vu, VHOST_USER_SET_VRING_KICK, index, fd);
}

int vhost_user_set_vring_call(struct vhost_user *vu, unsigned int index, int fd)
{
	return vu_set_vring_fd(vu, VHOST_USER_SET_VRING_CALL, index, fd);
}

int vhost_user_set_vring_err(struct vhost_user *vu, unsigned int index, int fd)
{
	return vu_set_vring_fd(vu, VHOST_USER_SET_VRING_ERR, index, fd);
}

int vhost_user_set_vring_enable(struct vhost_user *vu, unsigned int index, bool enable)
{
	return vu_call_state(vu, VHOST_USER_SET_VRING_ENABLE, index, enable ? 1 : 0);
}

int vhost_user_get_vring_base(struct vhost_user *vu, unsigned int index, unsigned int *base)
{
	uint8_t reply[VU_HDR_SIZE + VU_VRING_STATE_SIZE];
	struct vu_msg m;
	uint32_t echoed;
	int r = vu_usable(vu);

	if (r < 0)
		return r;
	vu_msg_init(&m, VHOST_USER_GET_VRING_BASE, 0, VU_VRING_STATE_SIZE);
	vu_put_u32(vu_msg_payload(&m), index);
	vu_put_u32(vu_msg_payload(&m) + 4, 0);
	r = vu_query(vu, VHOST_USER_GET_VRING_BASE, &m, reply, VU_VRING_STATE_SIZE);
	if (r < 0)
		return r;
	echoed = vu_get_u32(reply + VU_HDR_SIZE);
	if (echoed != index) {
		vu->replies_refused++;
		vu_set_error(vu, "malformed reply to GET_VRING_BASE: ring %" PRIu32 ", expected %u",
			     echoed, index);
		return vu_break(vu, -EPROTO);
	}
	*base = vu_get_u32(reply + VU_HDR_SIZE + 4);
	return 0;
}

int vhost_user_reset_device(struct vhost_user *vu)
{
	int r = vu_usable(vu);

	if (r == 0)
		r = vu_need_feature(vu, VHOST_USER_PROTOCOL_F_RESET_DEVICE, VHOST_USER_RESET_DEVICE,
				    "RESET_DEVICE");
	return r < 0 ? r : vu_call_empty(vu, VHOST_USER_RESET_DEVICE);
}

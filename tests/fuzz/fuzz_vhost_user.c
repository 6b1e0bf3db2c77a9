/*
 * The vhost-user front-end (devices/vhost_user/vhost_user.c) against a
 * back-end that says whatever the input says.
 *
 * Input:
 *   byte 0     the protocol features minivmm asks for: bit 0 MQ, 1 REPLY_ACK,
 *              2 CONFIG, 3 RESET_DEVICE
 *   byte 1     bit 0: a descriptor comes with the back-end's first byte;
 *              bit 1: one comes with the byte at offset byte 2 of the stream
 *   byte 2     that offset
 *   bytes 3-10 up to 8 calls after the opening conversation: low nibble the
 *              call, high nibble its argument (ring index, config size)
 *   the rest   the back-end's byte stream, queued on a socketpair before
 *              vhost_user_attach() starts; then the back-end's side is shut
 *              for writing, so the front-end meets EOF, never a wait.
 *
 * Invariants:
 *  - vhost_user_check_reply on the stream accepts only a reply whose header
 *    matches the request, version 1 with REPLY, the expected size and the
 *    length received;
 *  - every call returns 0 or a negative errno; a failure leaves a non-empty
 *    vu->error; a broken connection fails every later call with -EPIPE and
 *    sends nothing; -EIO (refused by REPLY_ACK) and -EOPNOTSUPP (feature not
 *    negotiated) leave the connection usable, every other failure breaks it;
 *  - a success yields values the back-end actually sent (found in the
 *    stream); negotiated protocol features are a subset of those asked for,
 *    and none without PROTOCOL_FEATURES;
 *  - no descriptor leaks: those the back-end sends are closed.
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/vhost_user/vhost_user.h"
#include "fuzz_input.h"

#define MAX_CALLS 8

enum fvu_call {
	FVU_GET_QUEUE_NUM,
	FVU_GET_CONFIG,
	FVU_SET_FEATURES,
	FVU_SET_MEM_TABLE,
	FVU_SET_VRING_NUM,
	FVU_SET_VRING_BASE,
	FVU_SET_VRING_ADDR,
	FVU_SET_VRING_KICK,
	FVU_SET_VRING_CALL,
	FVU_SET_VRING_ENABLE,
	FVU_GET_VRING_BASE,
	FVU_RESET_DEVICE,
	FVU_NR_CALLS,
};

static const unsigned int fvu_feature_bits[] = {
    VHOST_USER_PROTOCOL_F_MQ,
    VHOST_USER_PROTOCOL_F_REPLY_ACK,
    VHOST_USER_PROTOCOL_F_CONFIG,
    VHOST_USER_PROTOCOL_F_RESET_DEVICE,
};

static const uint8_t *fvu_stream;
static size_t fvu_stream_len;

/* Did the back-end send these bytes (a value a successful call returns)? */
static bool fvu_sent(const void *value, size_t len)
{
	return memmem(fvu_stream, fvu_stream_len, value, len) != NULL;
}

/*
 * Which of the descriptors from the lowest free one up are open: a leak
 * (one received and kept) shows up as a change between two calls.
 */
static uint64_t fvu_open_fds(int *lowest)
{
	uint64_t open_set = 0;

	if (*lowest < 0) {
		*lowest = open("/dev/null", O_RDONLY | O_CLOEXEC);
		FUZZ_CHECK(*lowest >= 0, "open /dev/null");
		close(*lowest);
	}
	for (int i = 0; i < 64; i++)
		if (fcntl(*lowest + i, F_GETFD) >= 0)
			open_set |= 1ull << i;
	return open_set;
}

static void fvu_send_chunk(int sock, const uint8_t *p, size_t len, bool with_fd)
{
	char control[CMSG_SPACE(sizeof(int))];
	struct iovec iov = {.iov_base = (void *)p, .iov_len = len};
	struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1};
	int fd = -1;

	if (!len)
		return;
	if (with_fd) {
		struct cmsghdr *c;

		fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		FUZZ_CHECK(fd >= 0, "open /dev/null");
		memset(control, 0, sizeof(control));
		mh.msg_control = control;
		mh.msg_controllen = sizeof(control);
		c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN(sizeof(int));
		memcpy(CMSG_DATA(c), &fd, sizeof(int));
	}
	FUZZ_CHECK(sendmsg(sock, &mh, MSG_NOSIGNAL) == (ssize_t)len, "queueing the stream");
	if (fd >= 0)
		close(fd);
}

static void fvu_check_reply_direct(void)
{
	static const uint32_t sizes[] = {0, 8, 12 + 4};
	char why[128];

	for (unsigned int i = 0; i < 3; i++) {
		uint32_t request = fvu_stream_len >= 4 ? fvu_stream[0] : VHOST_USER_GET_FEATURES;
		uint32_t hdr[3];

		if (i == 2)
			request = VHOST_USER_GET_CONFIG;
		why[0] = 0;
		if (vhost_user_check_reply(request, fvu_stream, fvu_stream_len, 0, sizes[i], why,
					   sizeof(why))) {
			FUZZ_CHECK(why[0], "refused without a reason");
			continue;
		}
		memcpy(hdr, fvu_stream, sizeof(hdr));
		FUZZ_CHECK(hdr[0] == request, "request %u accepted for %u", hdr[0], request);
		FUZZ_CHECK((hdr[1] & VHOST_USER_VERSION_MASK) == VHOST_USER_VERSION &&
			       (hdr[1] & VHOST_USER_FLAG_REPLY),
			   "flags 0x%x accepted", hdr[1]);
		FUZZ_CHECK(hdr[2] == sizes[i] && fvu_stream_len == 12 + (size_t)hdr[2],
			   "size %u, length %zu accepted for %u", hdr[2], fvu_stream_len, sizes[i]);
	}
	/* Any descriptor makes a reply unacceptable. */
	FUZZ_CHECK(vhost_user_check_reply(VHOST_USER_GET_FEATURES, fvu_stream, fvu_stream_len, 1, 8,
					  why, sizeof(why)) == -EPROTO,
		   "reply with a descriptor accepted");
}

/* One call; r is what it returned, was_broken the state before it. */
static void fvu_check_result(const struct vhost_user *vu, int r, bool was_broken,
			     uint64_t sent_before, const char *what)
{
	FUZZ_CHECK(r <= 0, "%s returned %d", what, r);
	if (was_broken) {
		FUZZ_CHECK(r == -EPIPE, "%s on a broken connection returned %d", what, r);
		FUZZ_CHECK(vu->messages_sent == sent_before, "%s sent on a broken connection",
			   what);
	}
	if (r == 0) {
		FUZZ_CHECK(!vu->broken && !vu->error[0], "%s succeeded with an error: %s", what,
			   vu->error);
		return;
	}
	FUZZ_CHECK(vu->error[0], "%s failed (%d) without a reason", what, r);
	FUZZ_CHECK(memchr(vu->error, 0, sizeof(vu->error)), "%s: error not terminated", what);
	if (r == -EIO)
		FUZZ_CHECK(!vu->broken &&
			       vhost_user_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_REPLY_ACK),
			   "%s: -EIO without REPLY_ACK or with a broken connection", what);
	else if (r == -EOPNOTSUPP)
		FUZZ_CHECK(!vu->broken, "%s: -EOPNOTSUPP broke the connection", what);
	else
		FUZZ_CHECK(vu->broken, "%s failed with %d but the connection is not broken", what,
			   r);
	FUZZ_CHECK(vu->replies_refused <= 1 && (!vu->replies_refused || vu->broken),
		   "%s: %llu replies refused on a live connection", what,
		   (unsigned long long)vu->replies_refused);
}

static void fvu_call(struct vhost_user *vu, uint8_t choice, int lent_fd)
{
	unsigned int arg = choice >> 4;
	bool was_broken = vu->broken;
	uint64_t sent = vu->messages_sent, u64 = 0;
	struct vhost_user_mem_region region = {0x0, 0x100000, 0x7f0000000000, 0, lent_fd};
	uint8_t config[16];
	unsigned int base = 0;
	const char *what = "";
	int r = 0;

	switch ((choice & 0xf) % FVU_NR_CALLS) {
	case FVU_GET_QUEUE_NUM:
		what = "GET_QUEUE_NUM";
		r = vhost_user_get_queue_num(vu, &u64);
		if (r == 0)
			FUZZ_CHECK(fvu_sent(&u64, 8), "queue number not from the back-end");
		FUZZ_CHECK(r != -EOPNOTSUPP ||
			       !vhost_user_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_MQ),
			   "GET_QUEUE_NUM refused with MQ");
		break;
	case FVU_GET_CONFIG:
		what = "GET_CONFIG";
		r = vhost_user_get_config(vu, arg & 3, config, 1 + arg);
		if (r == 0)
			FUZZ_CHECK(fvu_sent(config, 1 + arg), "config not from the back-end");
		FUZZ_CHECK(r != -EOPNOTSUPP ||
			       !vhost_user_has_protocol_feature(vu, VHOST_USER_PROTOCOL_F_CONFIG),
			   "GET_CONFIG refused with CONFIG");
		break;
	case FVU_SET_FEATURES:
		what = "SET_FEATURES";
		r = vhost_user_set_features(vu, 1ull << 32 | arg);
		break;
	case FVU_SET_MEM_TABLE:
		what = "SET_MEM_TABLE";
		r = vhost_user_set_mem_table(vu, &region, arg & 1);
		break;
	case FVU_SET_VRING_NUM:
		what = "SET_VRING_NUM";
		r = vhost_user_set_vring_num(vu, arg, 256);
		break;
	case FVU_SET_VRING_BASE:
		what = "SET_VRING_BASE";
		r = vhost_user_set_vring_base(vu, arg, 0);
		break;
	case FVU_SET_VRING_ADDR:
		what = "SET_VRING_ADDR";
		r = vhost_user_set_vring_addr(vu, arg, 0x1000, 0x2000, 0x3000);
		break;
	case FVU_SET_VRING_KICK:
		what = "SET_VRING_KICK";
		r = vhost_user_set_vring_kick(vu, arg, (arg & 1) ? lent_fd : -1);
		break;
	case FVU_SET_VRING_CALL:
		what = "SET_VRING_CALL";
		r = vhost_user_set_vring_call(vu, arg, (arg & 1) ? lent_fd : -1);
		break;
	case FVU_SET_VRING_ENABLE:
		what = "SET_VRING_ENABLE";
		r = vhost_user_set_vring_enable(vu, arg, arg & 1);
		break;
	case FVU_GET_VRING_BASE: {
		uint32_t state[2];

		what = "GET_VRING_BASE";
		r = vhost_user_get_vring_base(vu, arg, &base);
		state[0] = arg;
		state[1] = base;
		if (r == 0)
			FUZZ_CHECK(fvu_sent(state, 8), "ring state not from the back-end");
		break;
	}
	case FVU_RESET_DEVICE:
		what = "RESET_DEVICE";
		r = vhost_user_reset_device(vu);
		FUZZ_CHECK(r != -EOPNOTSUPP || !vhost_user_has_protocol_feature(
						   vu, VHOST_USER_PROTOCOL_F_RESET_DEVICE),
			   "RESET_DEVICE refused with RESET_DEVICE");
		break;
	}
	fvu_check_result(vu, r, was_broken, sent, what);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct fuzz_input in = fuzz_input_init(data, size);
	uint8_t wanted_bits = fuzz_u8(&in), fd_flags = fuzz_u8(&in), fd_at = fuzz_u8(&in);
	uint8_t calls[MAX_CALLS];
	uint64_t wanted = 0;
	struct vhost_user vu;
	int sv[2], lowest = -1, lent_fd, r;
	uint64_t fds_before;

	fuzz_input_bytes(&in, calls, sizeof(calls));
	fvu_stream = data + (in.pos < size ? in.pos : size);
	fvu_stream_len = size - (size_t)(fvu_stream - data);
	for (unsigned int i = 0; i < 4; i++)
		if (wanted_bits & (1u << i))
			wanted |= 1ull << fvu_feature_bits[i];

	fvu_check_reply_direct();

	fds_before = fvu_open_fds(&lowest);
	FUZZ_CHECK(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0, "socketpair");
	lent_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	FUZZ_CHECK(lent_fd >= 0, "open /dev/null");
	{
		size_t split = (fd_flags & 2) && fd_at < fvu_stream_len ? fd_at : fvu_stream_len;

		fvu_send_chunk(sv[1], fvu_stream, split, fd_flags & 1);
		fvu_send_chunk(sv[1], fvu_stream + split, fvu_stream_len - split, fd_flags & 2);
	}
	shutdown(sv[1], SHUT_WR);

	r = vhost_user_attach(&vu, sv[0], "fuzz", 1000, wanted);
	FUZZ_CHECK(r <= 0, "attach returned %d", r);
	if (r < 0) {
		FUZZ_CHECK(vu.error[0], "attach failed (%d) without a reason", r);
		FUZZ_CHECK(vu.sock == -1, "attach failed but left the socket open");
	} else {
		FUZZ_CHECK(!vu.broken && vu.sock == sv[0], "attached but not usable");
		FUZZ_CHECK(fvu_sent(&vu.backend_features, 8), "features not from the back-end");
		FUZZ_CHECK((vu.protocol_features & ~wanted) == 0,
			   "protocol features 0x%llx beyond those asked, 0x%llx",
			   (unsigned long long)vu.protocol_features, (unsigned long long)wanted);
		FUZZ_CHECK(!vu.protocol_features ||
			       (vu.backend_features & (1ull << VHOST_USER_F_PROTOCOL_FEATURES)),
			   "protocol features without PROTOCOL_FEATURES");
		for (unsigned int i = 0; i < MAX_CALLS; i++)
			fvu_call(&vu, calls[i], lent_fd);
	}
	vhost_user_close(&vu);
	FUZZ_CHECK(vu.sock == -1, "close left the socket");
	FUZZ_CHECK(fcntl(lent_fd, F_GETFD) >= 0, "a lent descriptor was closed");
	close(lent_fd);
	close(sv[1]);
	FUZZ_CHECK(fvu_open_fds(&lowest) == fds_before,
		   "a descriptor leaked (open from %d: 0x%llx, was 0x%llx)", lowest,
		   (unsigned long long)fvu_open_fds(&lowest), (unsigned long long)fds_before);
	return 0;
}

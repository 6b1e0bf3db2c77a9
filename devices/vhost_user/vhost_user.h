/*
 * The front-end side of the vhost-user protocol (QEMU's
 * docs/interop/vhost-user.rst): minivmm connects to a back-end's UNIX
 * socket, negotiates features, hands it guest memory (memfd descriptors)
 * and each virtqueue's addresses and eventfds; the back-end then serves
 * the rings itself.  This file knows the wire format and the rules of the
 * conversation, not which device is behind it (virtio/vhost_user_dev.c).
 *
 * Every reply is hostile input: its request code, flags, size and payload
 * are checked against the request it answers, descriptors that come with a
 * reply are closed, and every wait on the socket is bounded by the
 * connection's timeout.  After a malformed reply, a timeout or a closed
 * socket the connection is "broken": every later call fails at once with
 * -EPIPE and vu->error says why (no call blocks on a dead back-end).
 *
 * Calls are synchronous and not thread-safe: the caller serialises them
 * (the device's lock).
 */
#ifndef MINIVMM_VHOST_USER_H
#define MINIVMM_VHOST_USER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Requests, front-end to back-end (the spec's numbering). */
enum vhost_user_request {
	VHOST_USER_GET_FEATURES = 1,
	VHOST_USER_SET_FEATURES = 2,
	VHOST_USER_SET_OWNER = 3,
	VHOST_USER_RESET_OWNER = 4,
	VHOST_USER_SET_MEM_TABLE = 5,
	VHOST_USER_SET_VRING_NUM = 8,
	VHOST_USER_SET_VRING_ADDR = 9,
	VHOST_USER_SET_VRING_BASE = 10,
	VHOST_USER_GET_VRING_BASE = 11,
	VHOST_USER_SET_VRING_KICK = 12,
	VHOST_USER_SET_VRING_CALL = 13,
	VHOST_USER_SET_VRING_ERR = 14,
	VHOST_USER_GET_PROTOCOL_FEATURES = 15,
	VHOST_USER_SET_PROTOCOL_FEATURES = 16,
	VHOST_USER_GET_QUEUE_NUM = 17,
	VHOST_USER_SET_VRING_ENABLE = 18,
	VHOST_USER_GET_CONFIG = 24,
	VHOST_USER_RESET_DEVICE = 34,
};

/* The virtio feature bit that says the back-end speaks protocol features. */
#define VHOST_USER_F_PROTOCOL_FEATURES 30

/* Protocol feature bits minivmm knows (it asks only for those it uses). */
#define VHOST_USER_PROTOCOL_F_MQ	   0
#define VHOST_USER_PROTOCOL_F_REPLY_ACK	   3
#define VHOST_USER_PROTOCOL_F_CONFIG	   9
#define VHOST_USER_PROTOCOL_F_RESET_DEVICE 13

/* Header flags: version 1 in the low two bits, then REPLY and NEED_REPLY. */
#define VHOST_USER_VERSION	   0x1
#define VHOST_USER_VERSION_MASK	   0x3
#define VHOST_USER_FLAG_REPLY	   (1u << 2)
#define VHOST_USER_FLAG_NEED_REPLY (1u << 3)

/* SET_VRING_KICK/CALL/ERR payload: the ring index, and this bit when no fd is sent. */
#define VHOST_USER_VRING_NOFD (1ull << 8)

/* At most this many memory regions in SET_MEM_TABLE (the spec's limit for the message). */
#define VHOST_USER_MAX_MEM_REGIONS 8
/* The largest device config space GET_CONFIG may ask for (the spec's limit). */
#define VHOST_USER_MAX_CONFIG_SIZE 256
/* Default for vhost_user_connect()'s timeout_ms when it is 0. */
#define VHOST_USER_DEFAULT_TIMEOUT_MS 5000

/* One guest RAM region as SET_MEM_TABLE describes it. */
struct vhost_user_mem_region {
	uint64_t guest_phys_addr;
	uint64_t memory_size;
	uint64_t userspace_addr; /* where minivmm maps it; ring addresses are given in this space */
	uint64_t mmap_offset;	 /* offset of the region in fd */
	int fd;			 /* the memfd; lent for the call, not closed */
};

struct vhost_user {
	int sock; /* -1 when not connected */
	char name[32];
	unsigned int timeout_ms;
	uint64_t backend_features;  /* GET_FEATURES */
	uint64_t protocol_features; /* negotiated: the back-end's & what was asked */
	bool broken;
	char error[160]; /* why the connection is broken, or why the last call failed */
	/* Counters, for --stats. */
	uint64_t messages_sent;
	uint64_t replies_refused; /* malformed replies (each one breaks the connection) */
};

/*
 * Connect to the back-end's socket at path (a UNIX stream socket, the
 * back-end listening), waiting at most timeout_ms (0: the default) for the
 * connection and later for every reply.  name is used in messages.  Then
 * the opening conversation: GET_FEATURES; if the back-end offers
 * VHOST_USER_F_PROTOCOL_FEATURES, GET_PROTOCOL_FEATURES and
 * SET_PROTOCOL_FEATURES with (offered & wanted_protocol_features)
 * (REPLY_ACK is used for every later request that allows it); SET_OWNER.
 * 0, or -errno with vu->error saying what went wrong in a sentence
 * ("connect to /run/x.sock: No such file or directory", "back-end did not
 * answer GET_FEATURES within 5000 ms", ...); vu is closed on failure.
 */
int vhost_user_connect(struct vhost_user *vu, const char *path, const char *name,
		       unsigned int timeout_ms, uint64_t wanted_protocol_features);

/*
 * Like vhost_user_connect() on a socket that is already connected (one end
 * of a socketpair, an inherited descriptor): vu takes it over (it is made
 * non-blocking, and closed on failure) and runs the opening conversation.
 */
int vhost_user_attach(struct vhost_user *vu, int sock, const char *name, unsigned int timeout_ms,
		      uint64_t wanted_protocol_features);

/* Close the socket (the back-end sees the front-end go away).  Idempotent. */
void vhost_user_close(struct vhost_user *vu);

/* True if the protocol feature bit was negotiated. */
bool vhost_user_has_protocol_feature(const struct vhost_user *vu, unsigned int bit);

/* GET_QUEUE_NUM (needs PROTOCOL_F_MQ): the back-end's maximum number of queues. */
int vhost_user_get_queue_num(struct vhost_user *vu, uint64_t *num);

/*
 * GET_CONFIG (needs PROTOCOL_F_CONFIG): size bytes of the device config
 * space from offset into buf.  The reply must echo offset and size.
 */
int vhost_user_get_config(struct vhost_user *vu, uint32_t offset, void *buf, uint32_t size);

/* SET_FEATURES: the virtio features the driver accepted (plus PROTOCOL_FEATURES when negotiated).
 */
int vhost_user_set_features(struct vhost_user *vu, uint64_t features);

/* SET_MEM_TABLE: n <= VHOST_USER_MAX_MEM_REGIONS regions, each fd sent with SCM_RIGHTS. */
int vhost_user_set_mem_table(struct vhost_user *vu, const struct vhost_user_mem_region *regions,
			     unsigned int n);

int vhost_user_set_vring_num(struct vhost_user *vu, unsigned int index, unsigned int num);
int vhost_user_set_vring_base(struct vhost_user *vu, unsigned int index, unsigned int base);
/* Ring addresses in the front-end's address space (userspace_addr above). */
int vhost_user_set_vring_addr(struct vhost_user *vu, unsigned int index, uint64_t desc,
			      uint64_t avail, uint64_t used);
/* fd < 0 sends VHOST_USER_VRING_NOFD.  The fd is lent for the call, not closed. */
int vhost_user_set_vring_kick(struct vhost_user *vu, unsigned int index, int fd);
int vhost_user_set_vring_call(struct vhost_user *vu, unsigned int index, int fd);
int vhost_user_set_vring_err(struct vhost_user *vu, unsigned int index, int fd);
int vhost_user_set_vring_enable(struct vhost_user *vu, unsigned int index, bool enable);
/* GET_VRING_BASE: stops the ring in the back-end and returns its next avail index. */
int vhost_user_get_vring_base(struct vhost_user *vu, unsigned int index, unsigned int *base);
/* RESET_DEVICE (needs PROTOCOL_F_RESET_DEVICE); -EOPNOTSUPP without it. */
int vhost_user_reset_device(struct vhost_user *vu);

/*
 * Checking one reply, exported for the unit tests and the fuzz target:
 * the bytes received (header and payload, len of them) and the number of
 * descriptors that came with them, against the request they answer and the
 * payload size that request expects (reply_size; 8 for a u64 reply).  0 if
 * acceptable, else -EPROTO with a reason in why (whysize bytes).
 */
int vhost_user_check_reply(uint32_t request, const void *buf, size_t len, unsigned int nr_fds,
			   uint32_t reply_size, char *why, size_t whysize);

#endif

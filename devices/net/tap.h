/*
 * The tap backend shared by the NICs: a non-blocking file descriptor on
 * /dev/net/tun in TAP mode (Ethernet frames, no packet-information prefix).
 *
 * With TAP_VNET_HDR every frame read or written is preceded by a
 * struct virtio_net_hdr (of the size set with tap_set_vnet_hdr_size), which
 * carries checksum and segmentation offload metadata; which offloads the
 * host may hand us is chosen with tap_set_offload().  Without it the tap
 * carries plain, fully checksummed frames of at most the tap's MTU.
 */
#ifndef MINIVMM_TAP_H
#define MINIVMM_TAP_H

#include <net/if.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <sys/uio.h>

/* tap_open() flags. */
#define TAP_VNET_HDR 0x1

struct tap {
	int fd;
	char ifname[IFNAMSIZ];
	bool vnet_hdr;
	bool created; /* the interface did not exist; it vanishes when fd closes */
};

/*
 * Open tap interface `name`, attaching to it if it exists and creating it
 * if it does not (logged either way).  Returns 0, or -errno with a message
 * naming the problem in err: no /dev/net/tun, no permission, name too long,
 * busy (another process is attached: -EBUSY), not a tap (-EINVAL).
 */
int tap_open(struct tap *tap, const char *name, unsigned int flags, char *err, size_t errlen);
void tap_close(struct tap *tap);

/* The kernel's limit on the queues of one tap (MAX_TAP_QUEUES). */
#define TAP_MAX_QUEUES 256

/*
 * Open nr_queues queues of tap interface `name`: taps[i] is queue i, each
 * with its own non-blocking fd (IFF_MULTI_QUEUE).  The kernel spreads the
 * frames it sends to the tap over the queues by flow, and takes frames on
 * any of them.  The vnet header size and offloads belong to the interface:
 * set them through any one queue.  Creates the interface (multi-queue) if
 * it does not exist, attaches to it if it does; it must then have been
 * created multi-queue (`ip tuntap add dev NAME mode tap multi_queue`), else
 * -EINVAL with a message that says so.  nr_queues == 1 is exactly
 * tap_open() (a single-queue tap).  0 (logged once), or -errno with err
 * filled in and no queue left open.
 *
 * Unlike a single-queue tap, a multi-queue one does not refuse a second
 * process: the kernel lets anyone with access attach more queues (up to
 * TAP_MAX_QUEUES), which then receive their share of the traffic.
 */
int tap_open_queues(struct tap *taps, unsigned int nr_queues, const char *name, unsigned int flags,
		    char *err, size_t errlen);

/* tap_close() on taps[0..nr_queues-1]; a tap minivmm created vanishes with the last. */
void tap_close_queues(struct tap *taps, unsigned int nr_queues);

/*
 * One queue of a multi-queue tap in or out of the interface's rotation
 * (TUNSETQUEUE with IFF_ATTACH_QUEUE / IFF_DETACH_QUEUE): the kernel steers
 * received frames to attached queues only, so a device detaches the queues
 * of pairs the guest does not use (VIRTIO_NET_CTRL_MQ_VQ_PAIRS_SET), or
 * their frames would wait there unread.  A detached queue keeps its fd and
 * what was queued on it.  Queues start attached.  0 or -errno: -EINVAL for
 * a single-queue tap, or a queue already in the state asked for.
 */
int tap_set_queue_enabled(struct tap *tap, bool enabled);

/* TUN_F_CSUM, TUN_F_TSO4, ... from <linux/if_tun.h>; needs TAP_VNET_HDR. 0 or -errno. */
int tap_set_offload(struct tap *tap, unsigned int tun_f_flags);

/* Size of the vnet header (10 or 12 bytes for virtio-net). 0 or -errno. */
int tap_set_vnet_hdr_size(struct tap *tap, int size);

/*
 * One frame.  Never block: -EAGAIN when the tap has nothing to read or its
 * queue is full; otherwise the byte count or -errno.
 */
ssize_t tap_read(struct tap *tap, void *buf, size_t len);
ssize_t tap_write(struct tap *tap, const void *buf, size_t len);
ssize_t tap_writev(struct tap *tap, const struct iovec *iov, int iovcnt);

/* Wrap an already open fd (a socketpair in unit tests) as a tap. */
void tap_init_fd(struct tap *tap, int fd, const char *name, bool vnet_hdr);

#endif

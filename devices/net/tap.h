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

#include "tap.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <unistd.h>

#include "log.h"

void tap_init_fd(struct tap *tap, int fd, const char *name, bool vnet_hdr)
{
	memset(tap, 0, sizeof(*tap));
	tap->fd = fd;
	snprintf(tap->ifname, sizeof(tap->ifname), "%s", name ? name : "");
	tap->vnet_hdr = vnet_hdr;
}

/* The name checks both opens share: 0, or -errno with err filled in. */
static int tap_check_name(const char *name, char *err, size_t errlen)
{
	if (!name || !*name) {
		snprintf(err, errlen, "tap: empty interface name");
		return -EINVAL;
	}
	if (strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap %s: name longer than %d characters", name, IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	return 0;
}

/* Why TUNSETIFF refused to attach to (or create) name, for the user. */
static void tap_explain(int e, const char *name, bool existed, bool multi_queue, char *err,
			size_t errlen)
{
	switch (e) {
	case EBUSY:
		snprintf(err, errlen,
			 "tap %s is busy: another process (or another --net) is attached to it",
			 name);
		break;
	case EPERM:
	case EACCES:
		snprintf(err, errlen, "tap %s: permission denied (%s it needs CAP_NET_ADMIN%s)",
			 name, existed ? "attaching to" : "creating",
			 existed ? " or ownership of the tap" : "");
		break;
	case EINVAL:
		if (multi_queue)
			snprintf(
			    err, errlen,
			    "tap %s: the interface exists but is not a multi-queue tap (it was "
			    "created without multi_queue, or is no tap at all); recreate it "
			    "with 'ip tuntap add dev %s mode tap multi_queue', or use queues=1",
			    name, name);
		else
			snprintf(err, errlen,
				 "tap %s: the interface exists but is not a tap device "
				 "(or has incompatible flags such as multi-queue)",
				 name);
		break;
	default:
		snprintf(err, errlen, "tap %s: TUNSETIFF: %s", name, strerror(e));
	}
}

/*
 * One fd on /dev/net/tun attached to tap `name` with IFF_TAP | IFF_NO_PI and
 * extra_flags; *ifname gets the kernel's name for it.  The fd, or -errno
 * with err filled in.
 */
static int tap_attach(const char *name, short extra_flags, bool existed, char ifname[IFNAMSIZ],
		      char *err, size_t errlen)
{
	struct ifreq ifr;
	int fd, e;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "tap %s: cannot open /dev/net/tun: %s%s", name, strerror(e),
			 e == ENOENT ? " (is the tun module loaded?)" : "");
		return -e;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI | extra_flags;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		tap_explain(e, name, existed, extra_flags & IFF_MULTI_QUEUE, err, errlen);
		close(fd);
		return -e;
	}
	memcpy(ifname, ifr.ifr_name, IFNAMSIZ);
	ifname[IFNAMSIZ - 1] = '\0';
	return fd;
}

int tap_open(struct tap *tap, const char *name, unsigned int flags, char *err, size_t errlen)
{
	char ifname[IFNAMSIZ];
	bool existed;
	int fd;

	tap_init_fd(tap, -1, NULL, false);
	fd = tap_check_name(name, err, errlen);
	if (fd)
		return fd;
	/* Only to tell the user which happened; TUNSETIFF decides atomically. */
	existed = if_nametoindex(name) != 0;
	fd =
	    tap_attach(name, flags & TAP_VNET_HDR ? IFF_VNET_HDR : 0, existed, ifname, err, errlen);
	if (fd < 0)
		return fd;
	tap_init_fd(tap, fd, ifname, flags & TAP_VNET_HDR);
	tap->created = !existed;
	log_info("tap %s: %s%s", tap->ifname,
		 existed ? "attached to existing interface"
			 : "created (it disappears when minivmm exits)",
		 tap->vnet_hdr ? ", vnet header on" : "");
	return 0;
}

int tap_open_queues(struct tap *taps, unsigned int nr_queues, const char *name, unsigned int flags,
		    char *err, size_t errlen)
{
	short extra = IFF_MULTI_QUEUE | (flags & TAP_VNET_HDR ? IFF_VNET_HDR : 0);
	char ifname[IFNAMSIZ];
	bool existed;
	int ret;

	if (nr_queues == 1)
		return tap_open(taps, name, flags, err, errlen);
	for (unsigned int i = 0; i < nr_queues; i++)
		tap_init_fd(&taps[i], -1, NULL, false);
	if (nr_queues == 0 || nr_queues > TAP_MAX_QUEUES) {
		snprintf(err, errlen, "tap %s: %u queues (1 to %d)", name ? name : "", nr_queues,
			 TAP_MAX_QUEUES);
		return -EINVAL;
	}
	ret = tap_check_name(name, err, errlen);
	if (ret)
		return ret;
	existed = if_nametoindex(name) != 0;
	for (unsigned int i = 0; i < nr_queues; i++) {
		/* The first attach creates the interface if needed; the others join it. */
		int fd =
		    tap_attach(i ? ifname : name, extra, existed || i > 0, ifname, err, errlen);

		if (fd < 0) {
			tap_close_queues(taps, i); /* a tap we created vanishes with them */
			return fd;
		}
		tap_init_fd(&taps[i], fd, ifname, flags & TAP_VNET_HDR);
		taps[i].created = !existed;
	}
	log_info("tap %s: %u queues, %s%s", ifname, nr_queues,
		 existed ? "attached to existing multi-queue interface"
			 : "created (it disappears when minivmm exits)",
		 flags & TAP_VNET_HDR ? ", vnet header on" : "");
	return 0;
}

void tap_close_queues(struct tap *taps, unsigned int nr_queues)
{
	for (unsigned int i = 0; i < nr_queues; i++)
		tap_close(&taps[i]);
}

void tap_close(struct tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
}

int tap_set_queue_enabled(struct tap *tap, bool enabled)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ifr.ifr_flags = enabled ? IFF_ATTACH_QUEUE : IFF_DETACH_QUEUE;
	if (ioctl(tap->fd, TUNSETQUEUE, &ifr) < 0)
		return -errno;
	return 0;
}

int tap_set_offload(struct tap *tap, unsigned int tun_f_flags)
{
	if (!tap->vnet_hdr && tun_f_flags)
		return -EINVAL; /* offloaded frames need the header to describe them */
	if (ioctl(tap->fd, TUNSETOFFLOAD, (unsigned long)tun_f_flags) < 0)
		return -errno;
	return 0;
}

int tap_set_vnet_hdr_size(struct tap *tap, int size)
{
	if (!tap->vnet_hdr)
		return -EINVAL;
	if (ioctl(tap->fd, TUNSETVNETHDRSZ, &size) < 0)
		return -errno;
	return 0;
}

static ssize_t result(ssize_t n)
{
	if (n >= 0)
		return n;
	return errno == EWOULDBLOCK ? -EAGAIN : -errno;
}

ssize_t tap_read(struct tap *tap, void *buf, size_t len)
{
	ssize_t n;

	do
		n = read(tap->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return result(n);
}

ssize_t tap_write(struct tap *tap, const void *buf, size_t len)
{
	ssize_t n;

	do
		n = write(tap->fd, buf, len);
	while (n < 0 && errno == EINTR);
	return result(n);
}

ssize_t tap_writev(struct tap *tap, const struct iovec *iov, int iovcnt)
{
	ssize_t n;

	do
		n = writev(tap->fd, iov, iovcnt);
	while (n < 0 && errno == EINTR);
	return result(n);
}

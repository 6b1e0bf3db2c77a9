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

int tap_open(struct tap *tap, const char *name, unsigned int flags, char *err, size_t errlen)
{
	struct ifreq ifr;
	bool existed;
	int fd, e;

	tap_init_fd(tap, -1, NULL, false);
	if (!name || !*name) {
		snprintf(err, errlen, "tap: empty interface name");
		return -EINVAL;
	}
	if (strlen(name) >= IFNAMSIZ) {
		snprintf(err, errlen, "tap %s: name longer than %d characters", name, IFNAMSIZ - 1);
		return -ENAMETOOLONG;
	}
	/* Only to tell the user which happened; TUNSETIFF decides atomically. */
	existed = if_nametoindex(name) != 0;

	fd = open("/dev/net/tun", O_RDWR | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		e = errno;
		snprintf(err, errlen, "tap %s: cannot open /dev/net/tun: %s%s", name, strerror(e),
			 e == ENOENT ? " (is the tun module loaded?)" : "");
		return -e;
	}
	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (flags & TAP_VNET_HDR)
		ifr.ifr_flags |= IFF_VNET_HDR;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0) {
		e = errno;
		switch (e) {
		case EBUSY:
			snprintf(
			    err, errlen,
			    "tap %s is busy: another process (or another --net) is attached to it",
			    name);
			break;
		case EPERM:
		case EACCES:
			snprintf(err, errlen,
				 "tap %s: permission denied (%s it needs CAP_NET_ADMIN%s)", name,
				 existed ? "attaching to" : "creating",
				 existed ? " or ownership of the tap" : "");
			break;
		case EINVAL:
			snprintf(err, errlen,
				 "tap %s: the interface exists but is not a tap device "
				 "(or has incompatible flags such as multi-queue)",
				 name);
			break;
		default:
			snprintf(err, errlen, "tap %s: TUNSETIFF: %s", name, strerror(e));
		}
		close(fd);
		return -e;
	}
	tap_init_fd(tap, fd, ifr.ifr_name, flags & TAP_VNET_HDR);
	tap->created = !existed;
	log_info("tap %s: %s%s", tap->ifname,
		 existed ? "attached to existing interface"
			 : "created (it is down and unconfigured; "
			   "it disappears when minivmm exits)",
		 tap->vnet_hdr ? ", vnet header on" : "");
	return 0;
}

void tap_close(struct tap *tap)
{
	if (tap->fd >= 0)
		close(tap->fd);
	tap->fd = -1;
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

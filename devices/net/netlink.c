/*
 * Two rtnetlink requests, built by hand: libmnl, the natural library for
 * them, ships no static archive in Debian, and libnl-route-3's would bring
 * some 300 KiB and glibc's getaddrinfo (which a static binary must not
 * use) into the statically linked minivmm for these two messages.
 */
#include "netlink.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_addr.h>
#include <linux/netlink.h>
#include <linux/rtnetlink.h>
#include <net/if.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

/* One request: header, family header, attributes; aligned, with room to spare. */
struct net_link_req {
	struct nlmsghdr nh;
	union {
		struct ifaddrmsg ifa;
		struct ifinfomsg ifi;
	};
	char attrs[64];
};

/* Append attribute type with len bytes of data (the buffer is sized for what is added). */
static void net_link_attr(struct net_link_req *r, unsigned short type, const void *data, size_t len)
{
	struct rtattr *rta = (struct rtattr *)((char *)r + NLMSG_ALIGN(r->nh.nlmsg_len));

	rta->rta_type = type;
	rta->rta_len = (unsigned short)RTA_LENGTH(len);
	memcpy(RTA_DATA(rta), data, len);
	r->nh.nlmsg_len = NLMSG_ALIGN(r->nh.nlmsg_len) + RTA_ALIGN(rta->rta_len);
}

/* Send r and wait for its acknowledgement: 0 or -errno (the kernel's answer). */
static int net_link_request(int fd, struct net_link_req *r)
{
	struct sockaddr_nl kernel = {.nl_family = AF_NETLINK};
	char buf[4096];

	if (sendto(fd, r, r->nh.nlmsg_len, 0, (struct sockaddr *)&kernel, sizeof(kernel)) < 0)
		return -errno;
	for (;;) {
		ssize_t n = recv(fd, buf, sizeof(buf), 0);
		struct nlmsghdr *h = (struct nlmsghdr *)buf;

		if (n < 0)
			return -errno;
		for (; NLMSG_OK(h, (size_t)n); h = NLMSG_NEXT(h, n)) {
			if (h->nlmsg_seq != r->nh.nlmsg_seq)
				continue;
			if (h->nlmsg_type == NLMSG_ERROR) {
				const struct nlmsgerr *e = NLMSG_DATA(h);

				if (h->nlmsg_len < NLMSG_LENGTH(sizeof(*e)))
					return -EPROTO;
				return e->error; /* 0: the acknowledgement */
			}
		}
	}
}

static int net_link_add_ipv4(int fd, unsigned int ifindex, uint32_t addr, unsigned int prefix_len)
{
	struct net_link_req r;
	uint32_t be = htonl(addr), brd = htonl(addr | (0xffffffffu >> prefix_len));

	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifa));
	r.nh.nlmsg_type = RTM_NEWADDR;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK | NLM_F_CREATE | NLM_F_EXCL;
	r.nh.nlmsg_seq = 1;
	r.ifa.ifa_family = AF_INET;
	r.ifa.ifa_prefixlen = (unsigned char)prefix_len;
	r.ifa.ifa_scope = RT_SCOPE_UNIVERSE;
	r.ifa.ifa_index = ifindex;
	net_link_attr(&r, IFA_LOCAL, &be, sizeof(be));
	net_link_attr(&r, IFA_ADDRESS, &be, sizeof(be));
	if (prefix_len < 31)
		net_link_attr(&r, IFA_BROADCAST, &brd, sizeof(brd));
	return net_link_request(fd, &r);
}

static int net_link_set_up(int fd, unsigned int ifindex)
{
	struct net_link_req r;

	memset(&r, 0, sizeof(r));
	r.nh.nlmsg_len = NLMSG_LENGTH(sizeof(r.ifi));
	r.nh.nlmsg_type = RTM_NEWLINK;
	r.nh.nlmsg_flags = NLM_F_REQUEST | NLM_F_ACK;
	r.nh.nlmsg_seq = 2;
	r.ifi.ifi_family = AF_UNSPEC;
	r.ifi.ifi_index = (int)ifindex;
	r.ifi.ifi_flags = IFF_UP;
	r.ifi.ifi_change = IFF_UP;
	return net_link_request(fd, &r);
}

int net_link_up_ipv4(const char *ifname, uint32_t addr, unsigned int prefix_len, char *err,
		     size_t errlen)
{
	struct sockaddr_nl local = {.nl_family = AF_NETLINK};
	struct in_addr a = {.s_addr = htonl(addr)};
	unsigned int ifindex = if_nametoindex(ifname);
	char text[INET_ADDRSTRLEN];
	int fd, ret;

	inet_ntop(AF_INET, &a, text, sizeof(text));
	if (!ifindex) {
		ret = -errno;
		snprintf(err, errlen, "%s: no such interface: %s", ifname, strerror(-ret));
		return ret;
	}
	fd = socket(AF_NETLINK, SOCK_RAW | SOCK_CLOEXEC, NETLINK_ROUTE);
	if (fd < 0 || bind(fd, (struct sockaddr *)&local, sizeof(local)) < 0) {
		ret = -errno;
		snprintf(err, errlen, "%s: cannot open an rtnetlink socket: %s", ifname,
			 strerror(-ret));
		if (fd >= 0)
			close(fd);
		return ret;
	}
	ret = net_link_add_ipv4(fd, ifindex, addr, prefix_len);
	if (ret)
		snprintf(err, errlen, "%s: cannot add address %s/%u: %s%s", ifname, text,
			 prefix_len, strerror(-ret),
			 ret == -EEXIST ? " (it is already on the interface)" : "");
	if (!ret) {
		ret = net_link_set_up(fd, ifindex);
		if (ret)
			snprintf(err, errlen, "%s: cannot bring it up: %s", ifname, strerror(-ret));
	}
	close(fd);
	return ret;
}

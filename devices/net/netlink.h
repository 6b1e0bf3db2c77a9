/*
 * Host interface set-up over rtnetlink: what `ip addr add` and
 * `ip link set up` would do, for a tap minivmm creates (--net TAP,ip=).
 */
#ifndef MINIVMM_NET_NETLINK_H
#define MINIVMM_NET_NETLINK_H

#include <stddef.h>
#include <stdint.h>

/*
 * Give interface ifname the IPv4 address addr/prefix_len (host byte order;
 * with its broadcast address below /31) and bring it up.  Needs
 * CAP_NET_ADMIN.  0, or -errno with err naming the step that failed: no
 * such interface (-ENODEV), the address already on it (-EEXIST), no
 * permission (-EPERM).
 */
int net_link_up_ipv4(const char *ifname, uint32_t addr, unsigned int prefix_len, char *err,
		     size_t errlen);

#endif

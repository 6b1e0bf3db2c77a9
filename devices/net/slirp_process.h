/*
 * Starting user-mode networking for one NIC: the bounded socket pair and
 * the helper process minivmm-net-user that runs libslirp on its far end
 * (devices/net/slirp.h says why a process).
 */
#ifndef MINIVMM_NET_SLIRP_PROCESS_H
#define MINIVMM_NET_SLIRP_PROCESS_H

#include <stdbool.h>
#include <stddef.h>

#include "tap.h"

struct net_config;

/* The helper's file name, looked up as net_user_spawn() says. */
#define NET_USER_HELPER "minivmm-net-user"

/*
 * The frame pair: AF_UNIX SOCK_SEQPACKET, non-blocking, close-on-exec,
 * each end's send buffer NET_USER_QUEUE_BYTES (what may wait in each
 * direction).  0, or -errno with err filled in.
 */
int net_user_pair(int fds[2], char *err, size_t errlen);

/*
 * Start the helper for NIC `name` ("net0-user") with cfg's forwards and
 * wait until it reports them listening: *tap gets the near end (ifname
 * "user", vnet_hdr as asked), which the NIC owns; the helper ends when that
 * end closes.  The helper is $MINIVMM_NET_USER if set, else
 * NET_USER_HELPER beside minivmm's own executable, else in
 * ../libexec/minivmm/ from it.  0, or -errno with err filled in: no helper
 * found, or the helper's own message (a forward that cannot listen).
 */
int net_user_spawn(const struct net_config *cfg, const char *name, bool vnet_hdr, struct tap *tap,
		   char *err, size_t errlen);

#endif

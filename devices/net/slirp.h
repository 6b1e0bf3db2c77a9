/*
 * User-mode networking (--net user): libslirp's TCP/IP stack on the far end
 * of an AF_UNIX SOCK_SEQPACKET socket pair (one frame per message), whose
 * near end a NIC model reads and writes exactly as a tap.  minivmm runs
 * this in a helper process of its own, minivmm-net-user (vmm/net_user/,
 * started by devices/net/slirp_process.c): libslirp and its glib exist only
 * as shared libraries, so linking them would cost the statically linked
 * VMM its static link, and the helper keeps the code that parses the
 * guest's TCP/IP away from guest memory and KVM, under a seccomp filter of
 * its own.  The unit tests run it in-process.  With
 * vnet_hdr every frame on the pair carries a 12-byte virtio_net_hdr_v1 in
 * front (what virtio-net reads and writes on a tap): the backend drops it on
 * the way to libslirp and puts an all-zero one (no offloads) on the way
 * back, so the NIC must offer the guest no checksum or segmentation
 * offloads.  The guest network is 10.0.2.0/24 as QEMU has it (NET_USER_* in
 * vm_config.h): the host at 10.0.2.2, DNS at 10.0.2.3, DHCP hands out
 * 10.0.2.15.  IPv4 only.
 *
 * Bounds: frames of at most NET_USER_MAX_FRAME bytes either way (longer
 * ones are dropped and counted), at most NET_USER_QUEUE_BYTES queued on the
 * pair in each direction (a frame that finds it full is dropped, as a full
 * tap drops it; TCP inside resends), at most NET_USER_MAX_FDS sockets of
 * libslirp polled.
 */
#ifndef MINIVMM_NET_SLIRP_H
#define MINIVMM_NET_SLIRP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct net_config;
struct net_user;

/* The largest frame either way, without the header: virtio-net's (a 64 KiB packet). */
#define NET_USER_MAX_FRAME 65550
/* Socket buffer of each end of the pair (the kernel may round it). */
#define NET_USER_QUEUE_BYTES (256 * 1024)
/* Most file descriptors of libslirp polled at once; past that, new ones wait. */
#define NET_USER_MAX_FDS 1024

/* Frames the backend dropped, for tests and the log. */
struct net_user_stats {
	uint64_t to_slirp;	   /* frames handed to libslirp */
	uint64_t to_guest;	   /* frames libslirp sent towards the guest */
	uint64_t dropped_full;	   /* to the guest: the pair was full */
	uint64_t dropped_oversize; /* either way: longer than NET_USER_MAX_FRAME */
	uint64_t dropped_short; /* from the guest: shorter than the header and an Ethernet header */
};

/*
 * libslirp on far, the far end of a socket pair made by net_user_pair()
 * (taken over: closed by net_user_destroy(), or here on failure), for NIC
 * `name` (messages), with cfg's hostfwd= forwards listening.  vnet_hdr: the
 * NIC is virtio-net.  0 (and *out), or -errno with a message in err: a
 * forward that cannot listen names its address and port.
 */
int net_user_create(const struct net_config *cfg, const char *name, bool vnet_hdr, int far,
		    struct net_user **out, char *err, size_t errlen);

/* Close the far end, free libslirp's state.  NULL is fine. */
void net_user_destroy(struct net_user *u);

/*
 * One round of the loop, waiting at most timeout_ms (-1: until something
 * happens): the pair, libslirp's sockets, its timers.
 */
void net_user_poll_once(struct net_user *u, int timeout_ms);

/* The NIC closed its end of the pair (minivmm exited): time to end. */
bool net_user_peer_gone(const struct net_user *u);

/* A copy of the counters (taken by the backend's thread, read racily: tests and stats). */
struct net_user_stats net_user_stats(const struct net_user *u);

#endif

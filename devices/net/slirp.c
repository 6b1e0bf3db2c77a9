/*
 * User-mode networking through libslirp: the poll loop and the frame path
 * between the socket pair and libslirp, run by the helper process
 * minivmm-net-user (vmm/net_user/).  libslirp's callbacks run inside
 * slirp_input(), slirp_pollfds_poll() and slirp_handle_timer(), i.e. in the
 * caller of net_user_poll_once().
 */
#include "slirp.h"

#include <arpa/inet.h>
#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <slirp/libslirp.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"
#include "vm_config.h"

/* The virtio-net header in front of each frame with vnet_hdr (virtio_net_hdr_v1). */
#define NET_USER_VNET_HDR 12
/* Frames taken from the pair per round, so libslirp's sockets and timers get their turn. */
#define NET_USER_BURST 64
/* The pair comes first in the poll array. */
#define NET_USER_FIXED_FDS 1

/* One of libslirp's timers: expires at expire_ms (CLOCK_MONOTONIC), or never if -1. */
struct net_user_timer {
	struct net_user_timer *next;
	SlirpTimerId id;
	void *cb_opaque;
	int64_t expire_ms;
};

struct net_user {
	Slirp *slirp;
	int far;	  /* the pair's far end */
	bool far_hung_up; /* the NIC closed its end: nothing more to read */
	size_t hdr_len;	  /* NET_USER_VNET_HDR or 0 */
	char name[32];
	struct net_user_timer *timers;
	struct pollfd *pfds; /* NET_USER_FIXED_FDS + NET_USER_MAX_FDS */
	unsigned int nr_pfds;
	uint8_t *frame; /* one frame from the pair: header, frame, one byte to spot a longer one */
	struct log_budget guest_errors;
	atomic_ulong to_slirp, to_guest, dropped_full, dropped_oversize, dropped_short;
};

static int64_t net_user_now_ns(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* ---- libslirp's callbacks ---- */

/* A frame for the guest: on the pair behind a header without offloads, or dropped. */
static ssize_t net_user_send_packet(const void *buf, size_t len, void *opaque)
{
	static const uint8_t zero_hdr[NET_USER_VNET_HDR];
	struct net_user *u = opaque;
	struct iovec iov[2] = {
	    {.iov_base = (void *)zero_hdr, .iov_len = u->hdr_len},
	    {.iov_base = (void *)buf, .iov_len = len},
	};
	struct msghdr msg = {.msg_iov = iov, .msg_iovlen = 2};

	if (len > NET_USER_MAX_FRAME) {
		atomic_fetch_add(&u->dropped_oversize, 1);
		return (ssize_t)len;
	}
	if (u->far_hung_up)
		return (ssize_t)len; /* the NIC is gone */
	if (sendmsg(u->far, &msg, MSG_DONTWAIT | MSG_NOSIGNAL) < 0) {
		/* Full (the guest is not receiving) or gone: dropped, as a tap
		 * drops it; libslirp's TCP resends at its own pace. */
		atomic_fetch_add(&u->dropped_full, 1);
		return (ssize_t)len;
	}
	atomic_fetch_add(&u->to_guest, 1);
	return (ssize_t)len;
}

static void net_user_guest_error(const char *msg, void *opaque)
{
	struct net_user *u = opaque;

	log_guest_error(&u->guest_errors, "%s: %s", u->name, msg);
}

static int64_t net_user_clock_get_ns(void *opaque)
{
	(void)opaque;
	return net_user_now_ns();
}

static void *net_user_timer_new_opaque(SlirpTimerId id, void *cb_opaque, void *opaque)
{
	struct net_user *u = opaque;
	struct net_user_timer *t = calloc(1, sizeof(*t));

	if (!t) {
		log_error("%s: out of memory for a timer", u->name);
		abort(); /* libslirp cannot take a failure here */
	}
	t->id = id;
	t->cb_opaque = cb_opaque;
	t->expire_ms = -1;
	t->next = u->timers;
	u->timers = t;
	return t;
}

static void net_user_timer_free(void *timer, void *opaque)
{
	struct net_user *u = opaque;

	for (struct net_user_timer **pp = &u->timers; *pp; pp = &(*pp)->next) {
		if (*pp == timer) {
			*pp = (*pp)->next;
			free(timer);
			return;
		}
	}
}

static void net_user_timer_mod(void *timer, int64_t expire_ms, void *opaque)
{
	(void)opaque;
	((struct net_user_timer *)timer)->expire_ms = expire_ms;
}

/* The loop polls libslirp's sockets afresh each round: nothing to keep. */
static void net_user_register_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

static void net_user_unregister_poll_fd(int fd, void *opaque)
{
	(void)fd;
	(void)opaque;
}

/* Called from within libslirp in the loop itself: the next round sees the change. */
static void net_user_notify(void *opaque)
{
	(void)opaque;
}

static const SlirpCb net_user_callbacks = {
    .send_packet = net_user_send_packet,
    .guest_error = net_user_guest_error,
    .clock_get_ns = net_user_clock_get_ns,
    .timer_free = net_user_timer_free,
    .timer_mod = net_user_timer_mod,
    .register_poll_fd = net_user_register_poll_fd,
    .unregister_poll_fd = net_user_unregister_poll_fd,
    .notify = net_user_notify,
    .timer_new_opaque = net_user_timer_new_opaque,
};

/* ---- the poll loop ---- */

static int net_user_add_poll(int fd, int events, void *opaque)
{
	struct net_user *u = opaque;
	short ev = 0;

	if (u->nr_pfds == NET_USER_FIXED_FDS + NET_USER_MAX_FDS)
		return -1; /* not polled this round (see net_user_get_revents) */
	if (events & SLIRP_POLL_IN)
		ev |= POLLIN;
	if (events & SLIRP_POLL_OUT)
		ev |= POLLOUT;
	if (events & SLIRP_POLL_PRI)
		ev |= POLLPRI;
	u->pfds[u->nr_pfds] = (struct pollfd){.fd = fd, .events = ev};
	return (int)u->nr_pfds++;
}

static int net_user_get_revents(int idx, void *opaque)
{
	struct net_user *u = opaque;
	short rev;
	int events = 0;

	if (idx < NET_USER_FIXED_FDS || (unsigned int)idx >= u->nr_pfds)
		return 0;
	rev = u->pfds[idx].revents;
	if (rev & POLLIN)
		events |= SLIRP_POLL_IN;
	if (rev & POLLOUT)
		events |= SLIRP_POLL_OUT;
	if (rev & POLLPRI)
		events |= SLIRP_POLL_PRI;
	if (rev & POLLERR)
		events |= SLIRP_POLL_ERR;
	if (rev & POLLHUP)
		events |= SLIRP_POLL_HUP;
	return events;
}

/* Frames the NIC wrote, a burst at most, into libslirp. */
static void net_user_from_guest(struct net_user *u)
{
	size_t cap = u->hdr_len + NET_USER_MAX_FRAME + 1;

	for (unsigned int i = 0; i < NET_USER_BURST; i++) {
		ssize_t n = recv(u->far, u->frame, cap, MSG_DONTWAIT | MSG_TRUNC);

		if (n < 0)
			return; /* EAGAIN: empty */
		if (n == 0) {
			u->far_hung_up = true; /* the NIC closed its end */
			return;
		}
		if ((size_t)n >= cap) {
			atomic_fetch_add(&u->dropped_oversize, 1);
			continue;
		}
		if ((size_t)n < u->hdr_len + 14) {
			atomic_fetch_add(&u->dropped_short, 1);
			continue;
		}
		/* The NIC offered no offloads: the header says nothing to act on. */
		slirp_input(u->slirp, u->frame + u->hdr_len, (int)((size_t)n - u->hdr_len));
		atomic_fetch_add(&u->to_slirp, 1);
	}
}

static void net_user_run_timers(struct net_user *u)
{
	int64_t now = net_user_now_ns() / 1000000;
	bool fired;

	/* A callback may free or re-arm timers: restart the walk after each. */
	do {
		fired = false;
		for (struct net_user_timer *t = u->timers; t; t = t->next) {
			if (t->expire_ms >= 0 && t->expire_ms <= now) {
				t->expire_ms = -1;
				slirp_handle_timer(u->slirp, t->id, t->cb_opaque);
				fired = true;
				break;
			}
		}
	} while (fired);
}

/* Milliseconds until the next timer (at most cap). */
static int net_user_timer_wait(struct net_user *u, int cap)
{
	int64_t now = net_user_now_ns() / 1000000;

	for (struct net_user_timer *t = u->timers; t; t = t->next) {
		if (t->expire_ms < 0)
			continue;
		if (t->expire_ms <= now)
			return 0;
		if (cap < 0 || t->expire_ms - now < cap)
			cap = (int)(t->expire_ms - now);
	}
	return cap;
}

void net_user_poll_once(struct net_user *u, int timeout_ms)
{
	uint32_t slirp_timeout = UINT32_MAX;
	int n, wait;

	/* After a hang-up the pair would poll readable forever: a negative fd is skipped. */
	u->pfds[0] = (struct pollfd){.fd = u->far_hung_up ? -1 : u->far, .events = POLLIN};
	u->nr_pfds = NET_USER_FIXED_FDS;
	slirp_pollfds_fill(u->slirp, &slirp_timeout, net_user_add_poll, u);
	wait = timeout_ms;
	if (slirp_timeout != UINT32_MAX && (wait < 0 || slirp_timeout < (uint32_t)wait))
		wait = slirp_timeout > INT_MAX ? INT_MAX : (int)slirp_timeout;
	wait = net_user_timer_wait(u, wait);
	n = poll(u->pfds, u->nr_pfds, wait);
	if (n < 0 && errno != EINTR)
		log_errno("%s: poll", u->name);
	if (n < 0)
		for (unsigned int i = 0; i < u->nr_pfds; i++)
			u->pfds[i].revents = 0;
	slirp_pollfds_poll(u->slirp, n < 0, net_user_get_revents, u);
	if (!u->far_hung_up && (u->pfds[0].revents & (POLLIN | POLLHUP | POLLERR)))
		net_user_from_guest(u);
	net_user_run_timers(u);
}

/* ---- start and stop ---- */

static Slirp *net_user_new_slirp(struct net_user *u)
{
	SlirpConfig c = {
	    .version = 4,
	    .in_enabled = true,
	    .vnetwork.s_addr = htonl(NET_USER_NETWORK),
	    .vnetmask.s_addr = htonl(~0u << (32 - NET_USER_PREFIX_LEN)),
	    .vhost.s_addr = htonl(NET_USER_GATEWAY),
	    .vdhcp_start.s_addr = htonl(NET_USER_GUEST_ADDR),
	    .vnameserver.s_addr = htonl(NET_USER_DNS),
	    .in6_enabled = false,
	    /* libslirp's protocol helpers (FTP, IRC ...) are not safe: off. */
	    .enable_emu = false,
	};

	return slirp_new(&c, &net_user_callbacks, u);
}

static int net_user_add_forwards(struct net_user *u, const struct net_config *cfg, char *err,
				 size_t errlen)
{
	for (unsigned int i = 0; i < cfg->nr_hostfwd; i++) {
		const struct net_hostfwd *f = &cfg->hostfwd[i];
		struct in_addr host = {.s_addr = htonl(f->host_addr)};
		struct in_addr guest = {.s_addr = htonl(f->guest_addr)};
		char haddr[INET_ADDRSTRLEN], gaddr[INET_ADDRSTRLEN];

		errno = 0;
		if (slirp_add_hostfwd(u->slirp, f->udp, host, f->host_port, guest, f->guest_port) <
		    0) {
			int e = errno ? errno : EADDRINUSE;

			inet_ntop(AF_INET, &host, haddr, sizeof(haddr));
			snprintf(err, errlen, "hostfwd %s %s:%u: cannot listen there: %s",
				 f->udp ? "udp" : "tcp", haddr, f->host_port, strerror(e));
			return -e;
		}
		inet_ntop(AF_INET, &host, haddr, sizeof(haddr));
		inet_ntop(AF_INET, &guest, gaddr, sizeof(gaddr));
		log_info("%s: forwarding %s %s:%u to the guest's %s:%u", u->name,
			 f->udp ? "udp" : "tcp", haddr, f->host_port, gaddr, f->guest_port);
	}
	return 0;
}

static void net_user_free(struct net_user *u)
{
	if (u->slirp)
		slirp_cleanup(u->slirp); /* frees its timers through timer_free */
	while (u->timers) {
		struct net_user_timer *t = u->timers;

		u->timers = t->next;
		free(t);
	}
	if (u->far >= 0)
		close(u->far);
	free(u->pfds);
	free(u->frame);
	free(u);
}

int net_user_create(const struct net_config *cfg, const char *name, bool vnet_hdr, int far,
		    struct net_user **out, char *err, size_t errlen)
{
	struct net_user *u = calloc(1, sizeof(*u));
	int ret;

	if (!u) {
		close(far);
		snprintf(err, errlen, "user-mode networking: out of memory");
		return -ENOMEM;
	}
	u->far = far;
	u->hdr_len = vnet_hdr ? NET_USER_VNET_HDR : 0;
	snprintf(u->name, sizeof(u->name), "%s", name);
	u->pfds = calloc(NET_USER_FIXED_FDS + NET_USER_MAX_FDS, sizeof(*u->pfds));
	u->frame = malloc(u->hdr_len + NET_USER_MAX_FRAME + 1);
	if (!u->pfds || !u->frame) {
		snprintf(err, errlen, "user-mode networking: out of memory");
		ret = -ENOMEM;
		goto fail;
	}
	u->slirp = net_user_new_slirp(u);
	if (!u->slirp) {
		snprintf(err, errlen, "user-mode networking: libslirp refused its configuration");
		ret = -EINVAL;
		goto fail;
	}
	ret = net_user_add_forwards(u, cfg, err, errlen);
	if (ret)
		goto fail;
	*out = u;
	return 0;

fail:
	net_user_free(u);
	return ret;
}

void net_user_destroy(struct net_user *u)
{
	if (u)
		net_user_free(u);
}

bool net_user_peer_gone(const struct net_user *u)
{
	return u->far_hung_up;
}

struct net_user_stats net_user_stats(const struct net_user *u)
{
	struct net_user *m = (struct net_user *)u; /* atomics are read through non-const */

	return (struct net_user_stats){
	    .to_slirp = atomic_load(&m->to_slirp),
	    .to_guest = atomic_load(&m->to_guest),
	    .dropped_full = atomic_load(&m->dropped_full),
	    .dropped_oversize = atomic_load(&m->dropped_oversize),
	    .dropped_short = atomic_load(&m->dropped_short),
	};
}

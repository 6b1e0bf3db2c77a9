/*
 * minivmm-net-user: user-mode networking for one NIC of minivmm, in a
 * process of its own (devices/net/slirp.h says why).  minivmm starts it
 * (devices/net/slirp_process.c) with the far end of the NIC's socket pair
 * on descriptor 3 and a pipe on descriptor 4, on which it reports "ok" once
 * libslirp is set up and the forwards listen, or why not.  It then runs
 * libslirp under its seccomp filter until the pair's other end closes.
 * Not meant to be run by hand.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "devices/net/slirp.h"
#include "sandbox.h"
#include "vm_config.h"

#define NET_USER_FAR_FD	   3
#define NET_USER_STATUS_FD 4

/* "tcp:HOSTADDR:HOSTPORT:GUESTADDR:GUESTPORT", addresses as numbers (host order). */
static int net_user_parse_fwd(const char *s, struct net_hostfwd *f)
{
	unsigned int haddr, hport, gaddr, gport;
	char proto[4];
	int end = 0;

	if (sscanf(s, "%3[a-z]:%u:%u:%u:%u%n", proto, &haddr, &hport, &gaddr, &gport, &end) != 5 ||
	    s[end] != '\0' || hport < 1 || hport > 65535 || gport < 1 || gport > 65535 ||
	    (strcmp(proto, "tcp") != 0 && strcmp(proto, "udp") != 0))
		return -1;
	*f = (struct net_hostfwd){.udp = proto[0] == 'u',
				  .host_addr = haddr,
				  .host_port = (uint16_t)hport,
				  .guest_addr = gaddr,
				  .guest_port = (uint16_t)gport};
	return 0;
}

static void net_user_report(const char *line)
{
	if (write(NET_USER_STATUS_FD, line, strlen(line)) < 0 ||
	    write(NET_USER_STATUS_FD, "\n", 1) < 0)
		_exit(1); /* minivmm is gone */
}

int main(int argc, char **argv)
{
	struct net_config cfg = {.tap = "user", .user = true};
	const char *name = "net-user";
	bool vnet_hdr = false;
	struct net_user *u;
	char err[512];

	if (fcntl(NET_USER_FAR_FD, F_GETFD) < 0 || fcntl(NET_USER_STATUS_FD, F_GETFD) < 0) {
		fprintf(stderr, "minivmm-net-user: started by minivmm --net user, not by hand\n");
		return 2;
	}
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--name") == 0 && i + 1 < argc) {
			name = argv[++i];
		} else if (strcmp(argv[i], "--vnet-hdr") == 0) {
			vnet_hdr = true;
		} else if (strcmp(argv[i], "--hostfwd") == 0 && i + 1 < argc &&
			   cfg.nr_hostfwd < CONFIG_MAX_HOSTFWDS &&
			   net_user_parse_fwd(argv[i + 1], &cfg.hostfwd[cfg.nr_hostfwd]) == 0) {
			cfg.nr_hostfwd++;
			i++;
		} else {
			snprintf(err, sizeof(err), "minivmm-net-user: bad argument '%s'", argv[i]);
			net_user_report(err);
			return 2;
		}
	}
	/* A peer gone mid-write is seen as an error, not a signal. */
	signal(SIGPIPE, SIG_IGN);
	if (net_user_create(&cfg, name, vnet_hdr, NET_USER_FAR_FD, &u, err, sizeof(err))) {
		net_user_report(err);
		return 1;
	}
	if (net_user_sandbox(err, sizeof(err))) {
		net_user_report(err);
		return 1;
	}
	net_user_report("ok");
	close(NET_USER_STATUS_FD);
	while (!net_user_peer_gone(u))
		net_user_poll_once(u, -1);
	/* The NIC is gone: nothing to tidy that the exit does not. */
	_exit(0);
}

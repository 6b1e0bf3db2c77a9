/*
 * User-mode networking: the slirp backend's frame path driven from the NIC's
 * end of its socket pair (the test stands in for the NIC, the backend runs
 * without its thread: net_user_poll_once()), a hostfwd= forward, the bounds
 * on frames; virtio-net without offloads; default MACs.
 */
#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "devices/net/mac.h"
#include "devices/net/slirp.h"
#include "devices/net/slirp_process.h"
#include "fake_vm.h"
#include "helpers.h"
#include "mmio_driver.h"
#include "virtq_driver.h"
#include "virtio/mmio.h"
#include "util.h"
#include "virtio/net.h"
#include "vmm/net_user/sandbox.h"
#include "vm.h"
#include "vm_config.h"

#define NU_HDR 12

static const uint8_t nu_mac[6] = {0x02, 0x00, 0x00, 0x00, 0x00, 0x42};
static struct net_user *nu;
static struct tap nu_tap;
static struct net_config nu_cfg;

/* The pair (as minivmm makes it) and libslirp on its far end, in this process. */
static void nu_start(bool vnet_hdr)
{
	char err[256] = "";
	int fds[2];

	ck_assert_msg(net_user_pair(fds, err, sizeof(err)) == 0, "%s", err);
	tap_init_fd(&nu_tap, fds[0], "user", vnet_hdr);
	ck_assert_msg(
	    net_user_create(&nu_cfg, "test-user", vnet_hdr, fds[1], &nu, err, sizeof(err)) == 0,
	    "%s", err);
}

static void nu_setup(void)
{
	memset(&nu_cfg, 0, sizeof(nu_cfg));
	nu_cfg.tap = "user";
	nu_cfg.user = true;
	nu_start(true);
}

static void nu_teardown(void)
{
	tap_close(&nu_tap);
	net_user_destroy(nu);
	nu = NULL;
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)get16(p) << 16 | get16(p + 2);
}

static uint16_t nu_csum(const uint8_t *p, size_t len)
{
	uint32_t sum = 0;

	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* An ARP request from the guest (10.0.2.15) for tip, behind the NIC's header. */
static size_t nu_arp_request(uint8_t *f, uint32_t tip)
{
	uint8_t *e = f + NU_HDR, *a = e + 14;

	memset(f, 0, NU_HDR + 60);
	memset(e, 0xff, 6);
	memcpy(e + 6, nu_mac, 6);
	put16(e + 12, 0x0806);
	put16(a, 1);
	put16(a + 2, 0x0800);
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, 1);
	memcpy(a + 8, nu_mac, 6);
	put32(a + 14, NET_USER_GUEST_ADDR);
	put32(a + 24, tip);
	return NU_HDR + 60;
}

static size_t nu_echo_request(uint8_t *f, const uint8_t gw_mac[6], uint16_t seq)
{
	uint8_t *e = f + NU_HDR, *ip = e + 14, *icmp = ip + 20;

	memset(f, 0, NU_HDR + 14 + 20 + 8 + 16);
	memcpy(e, gw_mac, 6);
	memcpy(e + 6, nu_mac, 6);
	put16(e + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 20 + 8 + 16);
	ip[8] = 64;
	ip[9] = 1;
	put32(ip + 12, NET_USER_GUEST_ADDR);
	put32(ip + 16, NET_USER_GATEWAY);
	put16(ip + 10, nu_csum(ip, 20));
	icmp[0] = 8;
	put16(icmp + 4, 0x1234);
	put16(icmp + 6, seq);
	for (int i = 0; i < 16; i++)
		icmp[8 + i] = (uint8_t)i;
	put16(icmp + 2, nu_csum(icmp, 8 + 16));
	return NU_HDR + 14 + 20 + 8 + 16;
}

/* Poll the backend until a frame for the NIC arrives; its length (header included) or 0. */
static ssize_t nu_receive(uint8_t *buf, size_t size)
{
	for (int round = 0; round < 200; round++) {
		ssize_t n = recv(nu_tap.fd, buf, size, MSG_DONTWAIT);

		if (n > 0)
			return n;
		net_user_poll_once(nu, 10);
	}
	return 0;
}

static void nu_send(const uint8_t *f, size_t len)
{
	ck_assert_int_eq(send(nu_tap.fd, f, len, MSG_DONTWAIT), (ssize_t)len);
}

/* The gateway's MAC, learnt with an ARP request. */
static void nu_arp_gateway(uint8_t gw_mac[6])
{
	uint8_t f[256], r[2048];
	ssize_t n;

	nu_send(f, nu_arp_request(f, NET_USER_GATEWAY));
	n = nu_receive(r, sizeof(r));
	ck_assert_int_ge(n, NU_HDR + 42);
	/* An all-zero header: no offload for the NIC to finish. */
	for (int i = 0; i < NU_HDR; i++)
		ck_assert_uint_eq(r[i], 0);
	ck_assert_mem_eq(r + NU_HDR, nu_mac, 6);
	ck_assert_uint_eq(get16(r + NU_HDR + 12), 0x0806);
	ck_assert_uint_eq(get16(r + NU_HDR + 20), 2); /* reply */
	ck_assert_uint_eq(get32(r + NU_HDR + 28), NET_USER_GATEWAY);
	ck_assert_uint_eq(get32(r + NU_HDR + 38), NET_USER_GUEST_ADDR);
	memcpy(gw_mac, r + NU_HDR + 22, 6);
}

START_TEST(test_arp_and_echo)
{
	uint8_t gw[6], f[256], r[2048];
	struct net_user_stats st;
	ssize_t n;

	nu_arp_gateway(gw);
	nu_send(f, nu_echo_request(f, gw, 9));
	n = nu_receive(r, sizeof(r));
	ck_assert_int_ge(n, NU_HDR + 14 + 20 + 8 + 16);
	ck_assert_uint_eq(get16(r + NU_HDR + 12), 0x0800);
	ck_assert_uint_eq(r[NU_HDR + 14 + 9], 1);	       /* ICMP */
	ck_assert_uint_eq(r[NU_HDR + 14 + 20], 0);	       /* echo reply */
	ck_assert_uint_eq(get16(r + NU_HDR + 14 + 20 + 6), 9); /* our sequence */
	ck_assert_uint_eq(get32(r + NU_HDR + 14 + 16), NET_USER_GUEST_ADDR);
	st = net_user_stats(nu);
	ck_assert_uint_eq(st.to_slirp, 2);
	ck_assert_uint_eq(st.to_guest, 2);
}
END_TEST

/* e1000: plain frames, no header either way. */
START_TEST(test_plain_frames)
{
	uint8_t f[256], r[2048];
	ssize_t n;

	nu_teardown();
	nu_start(false);
	nu_arp_request(f, NET_USER_GATEWAY);
	nu_send(f + NU_HDR, 60);
	n = nu_receive(r, sizeof(r));
	ck_assert_int_ge(n, 42);
	ck_assert_mem_eq(r, nu_mac, 6);
	ck_assert_uint_eq(get16(r + 20), 2);
	ck_assert_uint_eq(get32(r + 28), NET_USER_GATEWAY);
}
END_TEST

/* Too short or too long: dropped and counted, never handed to libslirp. */
START_TEST(test_bad_frames_dropped)
{
	static uint8_t big[NU_HDR + NET_USER_MAX_FRAME + 1];
	uint8_t small[NU_HDR + 13] = {0};
	struct net_user_stats st;
	int size = 4 << 20;

	ck_assert_int_eq(setsockopt(nu_tap.fd, SOL_SOCKET, SO_SNDBUF, &size, sizeof(size)), 0);
	nu_send(small, sizeof(small));
	nu_send(big, sizeof(big));
	nu_send(small, NU_HDR); /* the header alone */
	for (int i = 0; i < 5; i++)
		net_user_poll_once(nu, 0);
	st = net_user_stats(nu);
	ck_assert_uint_eq(st.dropped_short, 2);
	ck_assert_uint_eq(st.dropped_oversize, 1);
	ck_assert_uint_eq(st.to_slirp, 0);
}
END_TEST

/* A NIC that does not read: what libslirp sends beyond the pair's buffer is dropped, counted. */
START_TEST(test_full_pair_drops)
{
	uint8_t gw[6], f[256];
	struct net_user_stats st;
	unsigned int sent = 0;

	nu_arp_gateway(gw);
	while (sent < 3000) {
		if (send(nu_tap.fd, f, nu_echo_request(f, gw, (uint16_t)sent), MSG_DONTWAIT) > 0)
			sent++;
		else
			net_user_poll_once(nu, 0);
	}
	for (int i = 0; i < 200 && net_user_stats(nu).to_slirp < sent + 1; i++)
		net_user_poll_once(nu, 0);
	st = net_user_stats(nu);
	ck_assert_uint_eq(st.to_slirp, sent + 1);
	ck_assert_uint_gt(st.dropped_full, 0);
	ck_assert_uint_eq(st.to_guest + st.dropped_full, sent + 1);
}
END_TEST

static uint16_t nu_free_port(void)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	close(s);
	return ntohs(a.sin_port);
}

/*
 * hostfwd: a connection to the forwarded port on 127.0.0.1 becomes a SYN to
 * the guest's port.  libslirp learnt the guest's MAC from its ARP request.
 */
START_TEST(test_hostfwd_syn)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	uint8_t gw[6], r[2048];
	bool syn = false;
	int c;

	nu_teardown();
	nu_cfg.nr_hostfwd = 1;
	nu_cfg.hostfwd[0] = (struct net_hostfwd){.host_addr = INADDR_LOOPBACK,
						 .host_port = nu_free_port(),
						 .guest_addr = NET_USER_GUEST_ADDR,
						 .guest_port = 22};
	nu_start(true);
	nu_arp_gateway(gw);
	a.sin_port = htons(nu_cfg.hostfwd[0].host_port);
	c = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	ck_assert_int_ge(c, 0);
	connect(c, (struct sockaddr *)&a, sizeof(a)); /* EINPROGRESS or done */
	for (int i = 0; i < 20 && !syn; i++) {
		ssize_t n = nu_receive(r, sizeof(r));
		const uint8_t *ip = r + NU_HDR + 14;

		syn = n >= NU_HDR + 14 + 40 && get16(r + NU_HDR + 12) == 0x0800 && ip[9] == 6 &&
		      get32(ip + 16) == NET_USER_GUEST_ADDR && get16(ip + 20 + 2) == 22 &&
		      (ip[20 + 13] & 0x12) == 0x02;
	}
	close(c);
	ck_assert_msg(syn, "no SYN to the guest's port 22");
}
END_TEST

/*
 * Listens on a free loopback port and makes nu_cfg's one forward ask for that
 * same port, so that starting the forward must fail; returns the listener.
 */
static int nu_forward_to_taken_port(uint16_t *port)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int s = socket(AF_INET, SOCK_STREAM, 0);

	ck_assert_int_ge(s, 0);
	ck_assert_int_eq(bind(s, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(s, 1), 0);
	ck_assert_int_eq(getsockname(s, (struct sockaddr *)&a, &len), 0);
	*port = ntohs(a.sin_port);
	nu_cfg.nr_hostfwd = 1;
	nu_cfg.hostfwd[0] = (struct net_hostfwd){.host_addr = INADDR_LOOPBACK,
						 .host_port = *port,
						 .guest_addr = NET_USER_GUEST_ADDR,
						 .guest_port = 22};
	return s;
}

/* A forward that cannot listen (the port is taken) fails the start, naming it. */
START_TEST(test_hostfwd_port_taken)
{
	struct net_user *u = NULL;
	char err[256] = "", want[64];
	uint16_t port;
	int s = nu_forward_to_taken_port(&port), fds[2];

	ck_assert_int_eq(net_user_pair(fds, err, sizeof(err)), 0);
	ck_assert_int_lt(net_user_create(&nu_cfg, "t", true, fds[1], &u, err, sizeof(err)), 0);
	ck_assert_ptr_null(u);
	snprintf(want, sizeof(want), "hostfwd tcp 127.0.0.1:%u: cannot listen", port);
	ck_assert_msg(strstr(err, want), "'%s' lacks '%s'", err, want);
	/* The far end was closed with the failure: the near end sees the hang-up. */
	ck_assert_int_eq(recv(fds[0], want, sizeof(want), MSG_DONTWAIT), 0);
	close(fds[0]);
	close(s);
}
END_TEST

/* ---- the helper process (minivmm-net-user beside this test binary) ---- */

/* Through the real helper: ARP for the gateway answered, the forward's failure reported. */
START_TEST(test_spawned_helper)
{
	uint8_t f[256], r[2048];
	char err[512] = "", want[64];
	struct tap tap;
	uint16_t port;
	int s, got = 0;

	nu_cfg.nr_hostfwd = 0;
	ck_assert_msg(net_user_spawn(&nu_cfg, "net0-user", true, &tap, err, sizeof(err)) == 0, "%s",
		      err);
	ck_assert_str_eq(tap.ifname, "user");
	ck_assert(tap.vnet_hdr);
	ck_assert_int_eq(send(tap.fd, f, nu_arp_request(f, NET_USER_GATEWAY), 0),
			 (ssize_t)(NU_HDR + 60));
	for (int i = 0; i < 100 && got <= 0; i++) {
		struct pollfd p = {.fd = tap.fd, .events = POLLIN};

		if (poll(&p, 1, 50) > 0)
			got = (int)recv(tap.fd, r, sizeof(r), MSG_DONTWAIT);
	}
	ck_assert_int_ge(got, NU_HDR + 42);
	ck_assert_uint_eq(get16(r + NU_HDR + 20), 2);
	ck_assert_uint_eq(get32(r + NU_HDR + 28), NET_USER_GATEWAY);
	tap_close(&tap); /* the helper ends */

	s = nu_forward_to_taken_port(&port);
	ck_assert_int_lt(net_user_spawn(&nu_cfg, "net0-user", true, &tap, err, sizeof(err)), 0);
	ck_assert_int_eq(tap.fd, -1);
	snprintf(want, sizeof(want), "hostfwd tcp 127.0.0.1:%u: cannot listen", port);
	ck_assert_msg(strstr(err, want), "'%s' lacks '%s'", err, want);
	close(s);
}
END_TEST

START_TEST(test_helper_not_found)
{
	char err[512] = "";
	struct tap tap;

	setenv("MINIVMM_NET_USER", "/nonexistent/minivmm-net-user", 1);
	ck_assert_int_eq(net_user_spawn(&nu_cfg, "net0-user", false, &tap, err, sizeof(err)),
			 -ENOENT);
	unsetenv("MINIVMM_NET_USER");
	ck_assert_int_eq(tap.fd, -1);
	ck_assert_msg(strstr(err, "MINIVMM_NET_USER=/nonexistent/minivmm-net-user"), "%s", err);
}
END_TEST

/* ---- the helper's seccomp filter ---- */

/* A TCP SYN from the guest's port 40000 to the gateway's port, behind the NIC's header. */
static size_t nu_syn(uint8_t *f, const uint8_t gw_mac[6], uint16_t port)
{
	uint8_t *e = f + NU_HDR, *ip = e + 14, *tcp = ip + 20, pseudo[12 + 20];

	memset(f, 0, NU_HDR + 14 + 40);
	memcpy(e, gw_mac, 6);
	memcpy(e + 6, nu_mac, 6);
	put16(e + 12, 0x0800);
	ip[0] = 0x45;
	put16(ip + 2, 40);
	ip[8] = 64;
	ip[9] = 6;
	put32(ip + 12, NET_USER_GUEST_ADDR);
	put32(ip + 16, NET_USER_GATEWAY);
	put16(ip + 10, nu_csum(ip, 20));
	put16(tcp, 40000);
	put16(tcp + 2, port);
	put32(tcp + 4, 1000);
	tcp[12] = 5 << 4;
	tcp[13] = 0x02; /* SYN */
	put16(tcp + 14, 65535);
	memcpy(pseudo, ip + 12, 8);
	pseudo[8] = 0;
	pseudo[9] = 6;
	put16(pseudo + 10, 20);
	memcpy(pseudo + 12, tcp, 20);
	put16(tcp + 16, nu_csum(pseudo, sizeof(pseudo)));
	return NU_HDR + 14 + 40;
}

/* In a child under the user-mode networking filter: 0, or the step that failed. */
static int nu_filtered_connect(const uint8_t gw[6], uint16_t port)
{
	uint8_t f[256], r[2048];

	char err[256];

	if (net_user_sandbox(err, sizeof(err)))
		return 100;
	if (send(nu_tap.fd, f, nu_syn(f, gw, port), MSG_DONTWAIT) < 0)
		return 1;
	for (int round = 0; round < 500; round++) {
		ssize_t n = recv(nu_tap.fd, r, sizeof(r), MSG_DONTWAIT);
		const uint8_t *ip = r + NU_HDR + 14;

		if (n >= NU_HDR + 14 + 40 && get16(r + NU_HDR + 12) == 0x0800 && ip[9] == 6 &&
		    get16(ip + 20) == port && (ip[20 + 13] & 0x12) == 0x12)
			return 0; /* libslirp connected to the host and answers SYN-ACK */
		if (n <= 0)
			net_user_poll_once(nu, 10);
	}
	return 2;
}

/*
 * The guest opens a TCP connection to 10.0.2.2:PORT: libslirp connects to
 * the host's 127.0.0.1:PORT (socket, non-blocking connect, options) and
 * answers SYN-ACK, all under the filter of its thread kind.
 */
START_TEST(test_seccomp_allows_slirp)
{
	struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
	socklen_t len = sizeof(a);
	int l = socket(AF_INET, SOCK_STREAM, 0), status;
	uint8_t gw[6];
	pid_t pid;

	ck_assert_int_eq(bind(l, (struct sockaddr *)&a, sizeof(a)), 0);
	ck_assert_int_eq(listen(l, 4), 0);
	ck_assert_int_eq(getsockname(l, (struct sockaddr *)&a, &len), 0);
	nu_arp_gateway(gw);
	pid = fork();
	ck_assert_int_ge(pid, 0);
	if (pid == 0)
		_exit(nu_filtered_connect(gw, ntohs(a.sin_port)));
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		      "child ended with status 0x%x (step %d)", status,
		      WIFEXITED(status) ? WEXITSTATUS(status) : -1);
	close(l);
}
END_TEST

/* What libslirp never needs stays forbidden: a netlink socket, writing a file. */
START_TEST(test_seccomp_refuses_other_calls)
{
	for (int which = 0; which < 2; which++) {
		int status;
		pid_t pid = fork();

		ck_assert_int_ge(pid, 0);
		if (pid == 0) {
			int devnull = open("/dev/null", O_WRONLY);

			dup2(devnull, STDERR_FILENO); /* the filter's one line */
			char err[256];

			if (net_user_sandbox(err, sizeof(err)))
				_exit(100);
			if (which == 0)
				socket(AF_NETLINK, SOCK_RAW, 0);
			else
				open("/tmp/minivmm-net-user-test", O_WRONLY | O_CREAT, 0600);
			_exit(1);
		}
		ck_assert_int_eq(waitpid(pid, &status, 0), pid);
		ck_assert_msg(WIFEXITED(status) && WEXITSTATUS(status) == NET_USER_SECCOMP_STATUS,
			      "call %d: child ended with status 0x%x", which, status);
	}
}
END_TEST

/* ---- virtio-net on the pair: no offloads offered ---- */

static int nu_hdr_size(struct tap *t, int size)
{
	(void)t;
	return size == NU_HDR ? 0 : -1;
}

static int nu_offload(struct tap *t, unsigned int f)
{
	(void)t;
	return f ? -1 : 0;
}

START_TEST(test_virtio_net_without_offloads)
{
	static const struct virtio_net_tap_ops ops = {
	    .set_vnet_hdr_size = nu_hdr_size, .set_offload = nu_offload, .no_offloads = true};
	static const struct virtio_net_tap_ops with = {.set_vnet_hdr_size = nu_hdr_size,
						       .set_offload = nu_offload};
	const uint64_t offloads = BIT(VIRTIO_NET_F_CSUM) | BIT(VIRTIO_NET_F_GUEST_CSUM) |
				  BIT(VIRTIO_NET_F_HOST_TSO4) | BIT(VIRTIO_NET_F_HOST_TSO6) |
				  BIT(VIRTIO_NET_F_GUEST_TSO4) | BIT(VIRTIO_NET_F_GUEST_TSO6);
	struct net_config cfg = {.tap = "user", .user = true, .model = NET_MODEL_VIRTIO};
	struct vm *vm = fake_vm_create(16 << 20);
	struct virtio_net *net;
	uint64_t f;

	ck_assert_int_eq(virtio_net_create_on_tap(vm, &cfg, 0, &nu_tap, &ops, &net), 0);
	nu_tap.fd = -1; /* the device owns it now */
	f = tmmio_device_features(virtio_net_device(net));
	ck_assert_uint_eq(f & offloads, 0);
	ck_assert(f & BIT(VIRTIO_NET_F_MAC));
	ck_assert(f & BIT(VIRTIO_NET_F_MRG_RXBUF));
	virtio_net_destroy(net);
	fake_vm_destroy(vm);

	/* The same device on a real tap's ops offers them all. */
	nu_teardown();
	nu_start(true);
	vm = fake_vm_create(16 << 20);
	ck_assert_int_eq(virtio_net_create_on_tap(vm, &cfg, 0, &nu_tap, &with, &net), 0);
	nu_tap.fd = -1;
	ck_assert_uint_eq(tmmio_device_features(virtio_net_device(net)) & offloads, offloads);
	virtio_net_destroy(net);
	fake_vm_destroy(vm);
}
END_TEST

/*
 * The helper ending (killed, or its filter tripped) closes the pair: the
 * device must notice the hang-up and stop reading, not read the end of file
 * again and again.  Before the fix its I/O thread spun on it, counting each
 * read as a dropped frame.
 */
START_TEST(test_virtio_net_backend_gone_stops_rx)
{
	static const struct virtio_net_tap_ops ops = {
	    .set_vnet_hdr_size = nu_hdr_size, .set_offload = nu_offload, .no_offloads = true};
	struct net_config cfg = {.tap = "user", .user = true, .model = NET_MODEL_VIRTIO};
	struct vm *vm = fake_vm_create(16 << 20);
	const struct virtio_net_counters *c;
	struct virtio_device *dev;
	struct virtio_net *net;
	struct tdrv rx, tx;
	uint8_t frame[NU_HDR + 60] = {0};
	char err[128];
	uint64_t one = 1, reads;
	struct tap tap;
	int fds[2];

	ck_assert_int_eq(net_user_pair(fds, err, sizeof(err)), 0);
	tap_init_fd(&tap, fds[0], "user", true);
	ck_assert_int_eq(virtio_net_create_on_tap(vm, &cfg, 0, &tap, &ops, &net), 0);
	dev = virtio_net_device(net);
	c = virtio_net_counters(net);
	ck_assert(tmmio_negotiate(dev, BIT(VIRTIO_F_VERSION_1) | BIT(VIRTIO_NET_F_MAC)) &
		  VIRTIO_STATUS_FEATURES_OK);
	tdrv_init(&rx, &vm->mem, 16, 0x100000);
	tdrv_init(&tx, &vm->mem, 16, 0x110000);
	tmmio_setup_queue(dev, VIRTIO_NET_RXQ, 16, rx.desc, rx.avail, rx.used);
	tmmio_setup_queue(dev, VIRTIO_NET_TXQ, 16, tx.desc, tx.avail, tx.used);
	tmmio_write(dev, VIRTIO_MMIO_STATUS,
		    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK |
			VIRTIO_STATUS_DRIVER_OK);
	for (uint16_t i = 0; i < 8; i++) {
		tdrv_desc(&rx, i, 0x200000 + 2048ULL * i, 2048, VIRTQ_DESC_F_WRITE, 0);
		tdrv_post(&rx, i);
	}
	ck_assert_int_eq(write(dev->queues[VIRTIO_NET_RXQ].kick_fd, &one, sizeof(one)), 8);
	/* One frame arrives normally. */
	frame[NU_HDR] = 0xff;
	ck_assert_int_eq(send(fds[1], frame, sizeof(frame), 0), (ssize_t)sizeof(frame));
	for (int i = 0; i < 1000 && tdrv_used_idx(&rx) < 1; i++)
		usleep(1000);
	ck_assert_uint_eq(tdrv_used_idx(&rx), 1);
	/* The helper goes: a few reads see the end, then RX stops reading. */
	close(fds[1]);
	usleep(100 * 1000);
	reads = counter_get(&c->rx_reads);
	usleep(200 * 1000);
	ck_assert_msg(counter_get(&c->rx_reads) - reads < 3,
		      "RX read the closed pair %lu more times in 200 ms",
		      counter_get(&c->rx_reads) - reads);
	ck_assert_uint_le(counter_get(&c->rx_dropped), 2);
	ck_assert_uint_eq(tdrv_used_idx(&rx), 1);
	virtio_net_destroy(net);
	fake_vm_destroy(vm);
}
END_TEST

/* ---- default MACs ---- */

START_TEST(test_default_macs)
{
	uint8_t seed_a[NET_MAC_SEED_LEN], seed_b[NET_MAC_SEED_LEN], a0[6], a1[6], b0[6];

	net_mac_seed(seed_a);
	net_mac_seed(seed_b);
	net_mac_default(a0, seed_a, 0);
	net_mac_default(a1, seed_a, 1);
	net_mac_default(b0, seed_b, 0);
	/* Two VMs differ (40 random bits: a collision here is a broken seed). */
	ck_assert(memcmp(a0, b0, 6) != 0);
	/* Two NICs of one VM differ, in the last octet. */
	ck_assert(memcmp(a0, a1, 6) != 0);
	ck_assert_mem_eq(a0, a1, 5);
	for (int i = 0; i < 3; i++) {
		const uint8_t *m = i == 0 ? a0 : i == 1 ? a1 : b0;

		ck_assert_uint_eq(m[0] & 0x02, 0x02); /* locally administered */
		ck_assert_uint_eq(m[0] & 0x01, 0);    /* unicast */
	}
}
END_TEST

/* Whatever the seed, the first octet stays 02 and the index wraps only past 255. */
START_TEST(test_default_mac_bits)
{
	uint8_t seed[NET_MAC_SEED_LEN] = {0xff, 0xff, 0xff, 0xff, 0xfe}, mac[6];

	net_mac_default(mac, seed, 3);
	ck_assert_mem_eq(mac, ((uint8_t[]){0x02, 0xff, 0xff, 0xff, 0xff, 0x01}), 6);
}
END_TEST

Suite *net_user_suite(void)
{
	Suite *s = suite_create("net_user");

	unit_tcase(s, "frames", nu_setup, nu_teardown,
		   UNIT_TESTS(test_arp_and_echo, test_plain_frames, test_bad_frames_dropped,
			      test_full_pair_drops, test_hostfwd_syn, test_hostfwd_port_taken,
			      test_seccomp_allows_slirp, test_seccomp_refuses_other_calls,
			      test_spawned_helper, test_helper_not_found,
			      test_virtio_net_backend_gone_stops_rx,
			      test_virtio_net_without_offloads));
	unit_tcase(s, "mac", NULL, NULL, UNIT_TESTS(test_default_macs, test_default_mac_bits));
	return s;
}

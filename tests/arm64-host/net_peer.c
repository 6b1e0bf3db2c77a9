/*
 * net_peer: the host side of the NIC test guests (tests/guest/arm64/virtio_net.c
 * and e1000.c) inside the emulated arm64 host, which has no python3 for
 * tests/integration/lib/frames.py.  It does what frames.py's "capture" and
 * "inject" modes and netns.sh's net_run_guest do together, in one process,
 * so that nothing waits by sleeping:
 *
 *   - makes the tap TAP (persistent, so that minivmm can open it by name)
 *     and brings it up;
 *   - runs COMMAND (minivmm with the guest) with its output on a pipe, copied
 *     to this program's standard output as it comes;
 *   - checks, byte for byte and in order, the NTX frames the guest sends
 *     (ethertype 0x88b5, from MAC to broadcast), seen on an AF_PACKET socket;
 *   - once the guest prints a line holding READY, sends it the NRX frames
 *     it expects (ethertype 0x88b6, to MAC).
 *
 * The frames are those of tests/guest/net_frames.h (keep them in sync).
 * It ends with three lines, then exits 0 only if all three say ok:
 *   net_peer: capture: N of NTX frames, all match | <what differed>
 *   net_peer: inject: NRX frames sent | never sent (<why>)
 *   net_peer: command exited S | was killed after T s
 * A command still running after TIMEOUT seconds is killed.
 *
 * usage: net_peer TAP MAC NTX NRX READY TIMEOUT -- COMMAND [ARGS...]
 *
 * Built static for arm64 on the x86 host: make tests/arm64-host/net_peer.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_packet.h>
#include <linux/if_tun.h>
#include <net/if.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define FRAME_MAX    1514
#define ETHERTYPE_TX 0x88b5 /* guest to host */
#define ETHERTYPE_RX 0x88b6 /* host to guest */
#define LINE_MAX_LEN 4096
/* After the command exits, frames it sent may still be queued on the socket. */
#define DRAIN_IDLE_MS 2000

static const uint8_t peer_mac[6] = {0x02, 0, 0, 0, 0, 0x01};

/* Frame k of one direction, as tests/guest/net_frames.c writes it. */
static uint32_t test_frame(uint8_t *f, uint32_t k, uint32_t mul, uint32_t seed, const uint8_t *dst,
			   const uint8_t *src, uint16_t ethertype)
{
	uint32_t len = 60 + (k * mul) % 1455;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = ethertype >> 8;
	f[13] = ethertype & 0xff;
	f[14] = (k >> 8) & 0xff;
	f[15] = k & 0xff;
	for (uint32_t i = 16; i < len; i++)
		f[i] = (k * seed + i * 7 + (i >> 8)) & 0xff;
	return len;
}

static uint32_t tx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6])
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return test_frame(f, k, 331, 31, broadcast, mac, ETHERTYPE_TX);
}

static uint32_t rx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6])
{
	return test_frame(f, k, 557, 17, mac, peer_mac, ETHERTYPE_RX);
}

static void die(const char *what)
{
	fprintf(stderr, "net_peer: %s: %s\n", what, strerror(errno));
	exit(2);
}

static bool parse_mac(const char *s, uint8_t mac[6])
{
	unsigned int b[6];
	char end;

	if (sscanf(s, "%x:%x:%x:%x:%x:%x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
		return false;
	for (int i = 0; i < 6; i++) {
		if (b[i] > 0xff)
			return false;
		mac[i] = (uint8_t)b[i];
	}
	return true;
}

static bool parse_count(const char *s, uint32_t max, uint32_t *out)
{
	char *end;
	unsigned long v;

	errno = 0;
	v = strtoul(s, &end, 10);
	if (errno || end == s || *end || v > max)
		return false;
	*out = (uint32_t)v;
	return true;
}

/* A persistent tap named name (kept when this process closes it), up. */
static int tap_create_up(const char *name)
{
	struct ifreq ifr = {0};
	int fd = open("/dev/net/tun", O_RDWR | O_CLOEXEC);
	int sock;

	if (fd < 0)
		die("/dev/net/tun");
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "%s", name);
	ifr.ifr_flags = IFF_TAP | IFF_NO_PI;
	if (ioctl(fd, TUNSETIFF, &ifr) < 0)
		die("TUNSETIFF");
	if (ioctl(fd, TUNSETPERSIST, 1) < 0)
		die("TUNSETPERSIST");
	close(fd);

	sock = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	if (sock < 0)
		die("socket(AF_INET)");
	if (ioctl(sock, SIOCGIFFLAGS, &ifr) < 0)
		die("SIOCGIFFLAGS");
	ifr.ifr_flags |= IFF_UP;
	if (ioctl(sock, SIOCSIFFLAGS, &ifr) < 0)
		die("SIOCSIFFLAGS");
	close(sock);
	return (int)if_nametoindex(name);
}

static int packet_socket(int ifindex)
{
	struct sockaddr_ll sll = {
	    .sll_family = AF_PACKET,
	    .sll_protocol = htons(0x0003), /* ETH_P_ALL */
	    .sll_ifindex = ifindex,
	};
	int s = socket(AF_PACKET, SOCK_RAW | SOCK_CLOEXEC | SOCK_NONBLOCK, htons(0x0003));

	if (s < 0)
		die("socket(AF_PACKET)");
	if (bind(s, (struct sockaddr *)&sll, sizeof(sll)) < 0)
		die("bind(AF_PACKET)");
	return s;
}

static pid_t start_command(char **argv, int *out_fd)
{
	int p[2];
	pid_t pid;

	if (pipe2(p, O_CLOEXEC) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(p[1], STDOUT_FILENO);
		dup2(p[1], STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "net_peer: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(p[1]);
	*out_fd = p[0];
	return pid;
}

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

struct capture {
	uint8_t mac[6];
	uint32_t want, got;
	char error[160]; /* the first difference; empty while all match */
};

/* Reads every queued frame; the guest's test frames are checked in order. */
static void capture_frames(int sock, struct capture *c)
{
	static uint8_t buf[65536], want[FRAME_MAX];

	for (;;) {
		struct sockaddr_ll from;
		socklen_t fromlen = sizeof(from);
		ssize_t n = recvfrom(sock, buf, sizeof(buf), 0, (struct sockaddr *)&from, &fromlen);
		uint32_t wlen;

		if (n < 0)
			return;
		/* Our own injected frames, and the stack's traffic, are not the guest's. */
		if (from.sll_pkttype == PACKET_OUTGOING || n < 16 || buf[12] != ETHERTYPE_TX >> 8 ||
		    buf[13] != (ETHERTYPE_TX & 0xff))
			continue;
		if (c->error[0])
			continue;
		if (c->got >= c->want) {
			snprintf(c->error, sizeof(c->error), "a frame beyond the %u expected",
				 c->want);
			continue;
		}
		wlen = tx_frame(want, c->got, c->mac);
		if ((uint32_t)n != wlen || memcmp(buf, want, wlen) != 0) {
			size_t diff = 0;

			while (diff < (size_t)n && diff < wlen && buf[diff] == want[diff])
				diff++;
			snprintf(c->error, sizeof(c->error),
				 "frame %u: length %zd (want %u), first difference at byte %zu",
				 c->got, n, wlen, diff);
			continue;
		}
		c->got++;
	}
}

static bool inject_frames(int sock, const uint8_t mac[6], uint32_t count, char *why, size_t size)
{
	static uint8_t f[FRAME_MAX];

	for (uint32_t k = 0; k < count; k++) {
		uint32_t len = rx_frame(f, k, mac);
		struct pollfd pfd = {.fd = sock, .events = POLLOUT};

		/* The socket is non-blocking: wait for room rather than drop a frame. */
		while (send(sock, f, len, 0) < 0) {
			if (errno != EAGAIN || poll(&pfd, 1, 1000) < 0) {
				snprintf(why, size, "send of frame %u: %s", k, strerror(errno));
				return false;
			}
		}
	}
	return true;
}

/* Copies the command's output through; returns true once a line held ready. */
static bool relay_output(int fd, char *line, size_t *len, const char *ready, bool *eof)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));
	bool seen = false;

	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			*eof = true;
		return false;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || *len == LINE_MAX_LEN - 1) {
			line[*len] = '\0';
			if (strstr(line, ready))
				seen = true;
			*len = 0;
		}
		if (buf[i] != '\n')
			line[(*len)++] = buf[i];
	}
	return seen;
}

int main(int argc, char **argv)
{
	static char line[LINE_MAX_LEN];
	struct capture cap = {0};
	uint32_t nrx, timeout_s;
	const char *ready;
	char inject_why[160] = "the guest never printed the ready line";
	bool injected = false, eof = false, killed = false;
	size_t line_len = 0;
	int ifindex, sock, out_fd, status = 0;
	int64_t deadline, drain_until;
	pid_t pid;

	if (argc < 9 || strcmp(argv[7], "--") != 0 || !parse_mac(argv[2], cap.mac) ||
	    !parse_count(argv[3], 65535, &cap.want) || !parse_count(argv[4], 65535, &nrx) ||
	    !parse_count(argv[6], 86400, &timeout_s)) {
		fprintf(stderr,
			"usage: net_peer TAP MAC NTX NRX READY TIMEOUT -- COMMAND [ARGS...]\n");
		return 2;
	}
	ready = argv[5];
	signal(SIGPIPE, SIG_IGN);
	ifindex = tap_create_up(argv[1]);
	if (ifindex == 0)
		die(argv[1]);
	sock = packet_socket(ifindex);
	pid = start_command(argv + 8, &out_fd);

	deadline = now_ms() + (int64_t)timeout_s * 1000;
	while (!eof) {
		struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN},
					{.fd = sock, .events = POLLIN}};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			kill(pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(pfd, 2, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR)
			die("poll");
		if (pfd[1].revents & POLLIN)
			capture_frames(sock, &cap);
		if (pfd[0].revents & (POLLIN | POLLHUP) &&
		    relay_output(out_fd, line, &line_len, ready, &eof) && !injected) {
			injected =
			    inject_frames(sock, cap.mac, nrx, inject_why, sizeof(inject_why));
			if (!injected)
				kill(pid, SIGKILL);
		}
	}
	if (waitpid(pid, &status, 0) < 0)
		die("waitpid");

	/* Frames the guest sent before it exited may still be queued here. */
	drain_until = now_ms() + DRAIN_IDLE_MS;
	while (cap.got < cap.want && !cap.error[0] && now_ms() < drain_until) {
		struct pollfd pfd = {.fd = sock, .events = POLLIN};

		if (poll(&pfd, 1, 100) > 0)
			capture_frames(sock, &cap);
	}

	if (!cap.error[0] && cap.got < cap.want)
		snprintf(cap.error, sizeof(cap.error), "frame %u missing", cap.got);
	printf("net_peer: capture: %u of %u frames, %s\n", cap.got, cap.want,
	       cap.error[0] ? cap.error : "all match");
	if (injected)
		printf("net_peer: inject: %u frames sent\n", nrx);
	else
		printf("net_peer: inject: never sent (%s)\n", inject_why);
	if (killed)
		printf("net_peer: command was killed after %u s\n", timeout_s);
	else if (WIFEXITED(status))
		printf("net_peer: command exited %d\n", WEXITSTATUS(status));
	else
		printf("net_peer: command ended by signal %d\n", WTERMSIG(status));
	return !cap.error[0] && injected && !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0
		   ? 0
		   : 1;
}

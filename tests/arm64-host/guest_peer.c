/*
 * guest_peer: the host side of a guest's test inside the emulated arm64 host
 * (tests/arm64-host), which has no python3 for the x86 suite's helpers.  It
 * runs COMMAND (minivmm with the guest), copies its output to standard output
 * as it comes, and answers what the guest waits for, each once the guest
 * prints a line holding the READY text given for it:
 *
 *   --frames TAP MAC NTX NRX READY
 *       what tests/integration/lib/frames.py's "capture" and "inject" modes
 *       and netns.sh's net_run_guest do together for the NIC guests
 *       (tests/guest/arm64/virtio_net.c, e1000.c): makes the tap TAP
 *       (persistent, so that minivmm can open it by name) and brings it up;
 *       checks, byte for byte and in order, the NTX frames the guest sends
 *       (ethertype 0x88b5, from MAC to broadcast) on an AF_PACKET socket;
 *       at READY sends the NRX frames the guest expects (ethertype 0x88b6,
 *       to MAC).  The frames are those of tests/guest/net_frames.h (keep
 *       them in sync).
 *   --type READY TEXT
 *       what tests/boot-test does for the Linux guest's serial-in check: at
 *       READY writes the line TEXT to COMMAND's standard input (the guest's
 *       console), which is otherwise a pipe kept open and empty.
 *
 * Everything happens in one poll() loop, so nothing waits by sleeping.  It
 * ends with a line per answer and one for COMMAND:
 *   guest_peer: capture: N of NTX frames, all match | <what differed>
 *   guest_peer: inject: NRX frames sent | never sent (<why>)
 *   guest_peer: typed the line | never typed (<why>)
 *   guest_peer: command exited S | was killed after T s | ended by signal N
 * and exits 0 only if every answer was given and right and COMMAND exited 0.
 * A command still running after TIMEOUT seconds is killed.
 *
 * usage: guest_peer [--frames TAP MAC NTX NRX READY] [--type READY TEXT]
 *                   --timeout SECONDS -- COMMAND [ARGS...]
 *
 * Built static for arm64 on the x86 host: make tests/arm64-host/guest_peer.
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
#define ARRAY_LEN(a)  (sizeof(a) / sizeof((a)[0]))

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
	fprintf(stderr, "guest_peer: %s: %s\n", what, strerror(errno));
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

/* COMMAND with its output on one pipe and its standard input on another. */
static pid_t start_command(char **argv, int *out_fd, int *in_fd)
{
	int out[2], in[2];
	pid_t pid;

	if (pipe2(out, O_CLOEXEC) < 0 || pipe2(in, O_CLOEXEC) < 0)
		die("pipe");
	pid = fork();
	if (pid < 0)
		die("fork");
	if (pid == 0) {
		dup2(in[0], STDIN_FILENO);
		dup2(out[1], STDOUT_FILENO);
		dup2(out[1], STDERR_FILENO);
		execvp(argv[0], argv);
		fprintf(stderr, "guest_peer: %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(out[1]);
	close(in[0]);
	*out_fd = out[0];
	*in_fd = in[1];
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

/* What a guest waits for: an answer given once a line holds ready. */
struct answer {
	const char *ready; /* NULL: not asked for */
	bool given;
	char why[160]; /* why it was not given, or went wrong */
};

struct peer {
	struct answer answers[2]; /* FRAMES, TYPE */
	struct capture cap;
	uint32_t nrx;
	int sock;  /* the tap's AF_PACKET socket, or -1 */
	int in_fd; /* COMMAND's standard input */
	const char *text;
	pid_t pid;
};

enum { FRAMES, TYPE };

/* Gives answer a; one that cannot be given ends the command (the guest would wait in vain). */
static void answer_due(struct peer *p, struct answer *a)
{
	if (a == &p->answers[FRAMES]) {
		a->given = inject_frames(p->sock, p->cap.mac, p->nrx, a->why, sizeof(a->why));
	} else {
		size_t len = strlen(p->text);

		a->given =
		    write(p->in_fd, p->text, len) == (ssize_t)len && write(p->in_fd, "\n", 1) == 1;
		if (!a->given)
			snprintf(a->why, sizeof(a->why), "writing to the command: %s",
				 strerror(errno));
	}
	if (!a->given)
		kill(p->pid, SIGKILL);
}

/* Copies the command's output through; gives each answer whose ready text a line holds. */
static void relay_output(int fd, char *line, size_t *len, struct peer *p, bool *eof)
{
	char buf[4096];
	ssize_t n = read(fd, buf, sizeof(buf));

	if (n <= 0) {
		if (n == 0 || errno != EINTR)
			*eof = true;
		return;
	}
	fwrite(buf, 1, (size_t)n, stdout);
	fflush(stdout);
	for (ssize_t i = 0; i < n; i++) {
		if (buf[i] == '\n' || *len == LINE_MAX_LEN - 1) {
			line[*len] = '\0';
			for (size_t a = 0; a < ARRAY_LEN(p->answers); a++) {
				struct answer *ans = &p->answers[a];

				if (ans->ready && !ans->given && !ans->why[0] &&
				    strstr(line, ans->ready))
					answer_due(p, ans);
			}
			*len = 0;
		}
		if (buf[i] != '\n')
			line[(*len)++] = buf[i];
	}
}

static int usage(void)
{
	fprintf(stderr, "usage: guest_peer [--frames TAP MAC NTX NRX READY] [--type READY TEXT]\n"
			"                  --timeout SECONDS -- COMMAND [ARGS...]\n");
	return 2;
}

int main(int argc, char **argv)
{
	static char line[LINE_MAX_LEN];
	struct peer p = {.sock = -1};
	const char *tap = NULL;
	uint32_t timeout_s = 0;
	bool eof = false, killed = false;
	size_t line_len = 0;
	int i, out_fd, status = 0;
	int64_t deadline, drain_until;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (!strcmp(argv[i], "--frames") && i + 5 < argc) {
			tap = argv[i + 1];
			if (!parse_mac(argv[i + 2], p.cap.mac) ||
			    !parse_count(argv[i + 3], 65535, &p.cap.want) ||
			    !parse_count(argv[i + 4], 65535, &p.nrx))
				return usage();
			p.answers[FRAMES].ready = argv[i + 5];
			i += 5;
		} else if (!strcmp(argv[i], "--type") && i + 2 < argc) {
			p.answers[TYPE].ready = argv[i + 1];
			p.text = argv[i + 2];
			i += 2;
		} else if (!strcmp(argv[i], "--timeout") && i + 1 < argc) {
			if (!parse_count(argv[++i], 86400, &timeout_s) || timeout_s == 0)
				return usage();
		} else {
			return usage();
		}
	}
	if (i + 1 >= argc || timeout_s == 0)
		return usage();
	signal(SIGPIPE, SIG_IGN);
	if (tap) {
		int ifindex = tap_create_up(tap);

		if (ifindex == 0)
			die(tap);
		p.sock = packet_socket(ifindex);
	}
	p.pid = start_command(argv + i + 1, &out_fd, &p.in_fd);

	deadline = now_ms() + (int64_t)timeout_s * 1000;
	while (!eof) {
		struct pollfd pfd[2] = {{.fd = out_fd, .events = POLLIN},
					{.fd = p.sock, .events = POLLIN}};
		int64_t left = deadline - now_ms();

		if (left <= 0) {
			kill(p.pid, SIGKILL);
			killed = true;
			break;
		}
		if (poll(pfd, 2, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR)
			die("poll");
		if (pfd[1].revents & POLLIN)
			capture_frames(p.sock, &p.cap);
		if (pfd[0].revents & (POLLIN | POLLHUP))
			relay_output(out_fd, line, &line_len, &p, &eof);
	}
	if (waitpid(p.pid, &status, 0) < 0)
		die("waitpid");
	close(p.in_fd);

	bool ok = !killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;

	if (tap) {
		/* Frames the guest sent before it exited may still be queued here. */
		drain_until = now_ms() + DRAIN_IDLE_MS;
		while (p.cap.got < p.cap.want && !p.cap.error[0] && now_ms() < drain_until) {
			struct pollfd pfd = {.fd = p.sock, .events = POLLIN};

			if (poll(&pfd, 1, 100) > 0)
				capture_frames(p.sock, &p.cap);
		}
		if (!p.cap.error[0] && p.cap.got < p.cap.want)
			snprintf(p.cap.error, sizeof(p.cap.error), "frame %u missing", p.cap.got);
		printf("guest_peer: capture: %u of %u frames, %s\n", p.cap.got, p.cap.want,
		       p.cap.error[0] ? p.cap.error : "all match");
		ok = ok && !p.cap.error[0];
	}
	for (int a = FRAMES; a <= TYPE; a++) {
		const struct answer *ans = &p.answers[a];
		const char *what = a == FRAMES ? "inject" : "type";

		if (!ans->ready)
			continue;
		if (ans->given && a == FRAMES)
			printf("guest_peer: inject: %u frames sent\n", p.nrx);
		else if (ans->given)
			printf("guest_peer: type: the line was typed\n");
		else if (ans->why[0])
			printf("guest_peer: %s: failed (%s)\n", what, ans->why);
		else
			printf("guest_peer: %s: never done (the guest never printed '%s')\n", what,
			       ans->ready);
		ok = ok && ans->given;
	}
	if (killed)
		printf("guest_peer: command was killed after %u s\n", timeout_s);
	else if (WIFEXITED(status))
		printf("guest_peer: command exited %d\n", WEXITSTATUS(status));
	else
		printf("guest_peer: command ended by signal %d\n", WTERMSIG(status));
	return ok ? 0 : 1;
}

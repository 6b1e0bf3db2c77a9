/*
 * Command-line parsing.  Every rejected input produces exactly one line in
 * the caller's buffer naming the option, the offending value and the reason,
 * so main() can print it and exit with EXIT_STATUS_USAGE.
 */
#include "config.h"

#include <errno.h>
#include <getopt.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "arch/layout.h"
#include "cpu_affinity.h"
#include "util.h"
#include "virtio/mmio.h"
#include "vm.h"

_Static_assert(CONFIG_MAX_CPUS == VM_MAX_CPUS, "vm_config.h and vm.h disagree on the vCPU limit");
/* virtio-net: a receive and a transmit queue per pair, and the control queue. */
_Static_assert(2 * CONFIG_MAX_QUEUES + 1 <= VIRTIO_MMIO_MAX_QUEUES,
	       "queues=N: more virtio-net queues than virtio-mmio allows");
_Static_assert(CONFIG_MAX_QUEUES <= VIRTIO_MMIO_MAX_IOTHREADS,
	       "queues=N: more queues than a device may have I/O threads");

/* Long-only options get values above any character. */
enum {
	OPT_KERNEL = 256,
	OPT_INITRD,
	OPT_CMDLINE,
	OPT_MEM,
	OPT_CPUS,
	OPT_DISK,
	OPT_NET,
	OPT_CONSOLE,
	OPT_STATS,
	OPT_HUGEPAGES,
	OPT_CPU_PROFILE,
	OPT_CPU_AFFINITY,
	OPT_SECCOMP,
	OPT_MEMORY_BACKEND,
	OPT_NO_ACPI,
	OPT_API_SOCKET,
	OPT_PIDFILE,
	OPT_DUMP_DTB,
};

static const struct option long_options[] = {
    {"kernel", required_argument, NULL, OPT_KERNEL},
    {"initrd", required_argument, NULL, OPT_INITRD},
    {"cmdline", required_argument, NULL, OPT_CMDLINE},
    {"mem", required_argument, NULL, OPT_MEM},
    {"cpus", required_argument, NULL, OPT_CPUS},
    {"disk", required_argument, NULL, OPT_DISK},
    {"net", required_argument, NULL, OPT_NET},
    {"console", required_argument, NULL, OPT_CONSOLE},
    {"stats", optional_argument, NULL, OPT_STATS},
    {"hugepages", no_argument, NULL, OPT_HUGEPAGES},
    {"cpu-profile", required_argument, NULL, OPT_CPU_PROFILE},
    {"cpu-affinity", required_argument, NULL, OPT_CPU_AFFINITY},
    {"seccomp", required_argument, NULL, OPT_SECCOMP},
    {"memory-backend", required_argument, NULL, OPT_MEMORY_BACKEND},
    {"no-acpi", no_argument, NULL, OPT_NO_ACPI},
    {"api-socket", required_argument, NULL, OPT_API_SOCKET},
    {"pidfile", required_argument, NULL, OPT_PIDFILE},
    {"dump-dtb", required_argument, NULL, OPT_DUMP_DTB},
    {"verbose", no_argument, NULL, 'v'},
    {"help", no_argument, NULL, 'h'},
    {"version", no_argument, NULL, 'V'},
    {NULL, 0, NULL, 0},
};

/*
 * '+': stop at the first non-option instead of permuting argv, so argv stays
 * untouched and stray words are reported.  ':': report a missing value as
 * ':' rather than '?', so the two errors get different messages.
 */
static const char short_options[] = "+:hvV";

struct parser {
	struct vm_config *cfg;
	char *err;
	size_t errlen;
	const char *cpu_affinity_arg; /* the --cpu-affinity in force, for check_cpu_affinity() */
};

__attribute__((format(printf, 2, 3))) static int fail(struct parser *p, const char *fmt, ...)
{
	va_list ap;

	if (p->err && p->errlen) {
		va_start(ap, fmt);
		vsnprintf(p->err, p->errlen, fmt, ap);
		va_end(ap);
		/* The message quotes what the user typed: keep it one line, and
		 * keep terminal escapes out of it. */
		for (char *c = p->err; *c; c++)
			if ((unsigned char)*c < 0x20 || *c == 0x7f)
				*c = '?';
	}
	return -1;
}

static const struct option *option_by_val(int val)
{
	const struct option *o;

	for (o = long_options; o->name; o++)
		if (o->val == val)
			return o;
	return NULL;
}

static const char *option_name(int val)
{
	const struct option *o = option_by_val(val);

	return o ? o->name : "?";
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static int hex_value(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/*
 * The parsers below return 0 or -errno and, on error, a reason in why; the
 * public wrappers drop the reason, config_parse() puts it into its message.
 */
static int parse_size(const char *s, uint64_t *out, char *why, size_t whylen)
{
	const char *suffix;
	uint64_t value = 0;
	unsigned int shift = 0;
	bool overflow = false;

	if (*s == '\0') {
		snprintf(why, whylen, "empty size");
		return -EINVAL;
	}
	if (*s == '-') {
		snprintf(why, whylen, "negative size");
		return -EINVAL;
	}
	if (s[0] == '0' && (s[1] == 'x' || s[1] == 'X')) {
		snprintf(why, whylen, "hexadecimal is not accepted, use decimal");
		return -EINVAL;
	}
	if (!is_digit(*s)) {
		snprintf(why, whylen, "not a number");
		return -EINVAL;
	}
	for (; is_digit(*s); s++) {
		unsigned int digit = *s - '0';

		if (value > (UINT64_MAX - digit) / 10)
			overflow = true;
		else
			value = value * 10 + digit;
	}

	suffix = s;
	switch (*s) {
	case 'k':
	case 'K':
		shift = 10;
		break;
	case 'm':
	case 'M':
		shift = 20;
		break;
	case 'g':
	case 'G':
		shift = 30;
		break;
	case 't':
	case 'T':
		shift = 40;
		break;
	}
	if (shift)
		s++;
	if (strcmp(s, "B") == 0 || (shift && strcmp(s, "iB") == 0))
		s += strlen(s);
	if (*suffix == '.') {
		snprintf(why, whylen, "fractions are not accepted, use a smaller unit");
		return -EINVAL;
	}
	if (*s != '\0') {
		snprintf(why, whylen, "unknown size suffix '%s' (expected k, M, G or T)", suffix);
		return -EINVAL;
	}

	if (overflow || value > (UINT64_MAX >> shift)) {
		snprintf(why, whylen, "too large");
		return -ERANGE;
	}
	if (value == 0) {
		snprintf(why, whylen, "size must not be zero");
		return -ERANGE;
	}
	*out = value << shift;
	return 0;
}

int config_parse_size(const char *s, uint64_t *out)
{
	char why[128];

	return parse_size(s, out, why, sizeof(why));
}

static int parse_mac(const char *s, uint8_t mac[6], const char **why)
{
	static const size_t mac_len = sizeof("XX:XX:XX:XX:XX:XX") - 1;
	unsigned int i;

	if (strlen(s) != mac_len) {
		*why = "expected 6 hex octets as XX:XX:XX:XX:XX:XX";
		return -EINVAL;
	}
	for (i = 0; i < 6; i++) {
		int hi = hex_value(s[3 * i]), lo = hex_value(s[3 * i + 1]);

		if (hi < 0 || lo < 0) {
			*why = "not a hex digit";
			return -EINVAL;
		}
		if (i < 5 && s[3 * i + 2] != ':') {
			*why = "octets must be separated by ':'";
			return -EINVAL;
		}
		mac[i] = (uint8_t)(hi << 4 | lo);
	}
	/* The I/G bit marks group addresses: a NIC's own address must not have it. */
	if (mac[0] & 1) {
		*why = "multicast address (low bit of the first octet set) is not valid for a NIC";
		return -EINVAL;
	}
	if (!(mac[0] | mac[1] | mac[2] | mac[3] | mac[4] | mac[5])) {
		*why = "all-zero address is not valid for a NIC";
		return -EINVAL;
	}
	return 0;
}

int config_parse_mac(const char *s, uint8_t mac[6])
{
	const char *why;
	uint8_t tmp[6];

	if (parse_mac(s, tmp, &why))
		return -EINVAL;
	memcpy(mac, tmp, sizeof(tmp));
	return 0;
}

/*
 * Copy the first comma-separated field of s into buf, turning ",," into a
 * literal comma so paths may contain commas.  *rest is set to what follows
 * the separating comma, or NULL when s has no further field.  -1 when the
 * field does not fit into buf.
 */
static int copy_first_field(const char *s, char *buf, size_t size, const char **rest)
{
	size_t n = 0;

	for (;;) {
		if (*s == '\0') {
			*rest = NULL;
			break;
		}
		if (*s == ',' && s[1] != ',') {
			*rest = s + 1;
			break;
		}
		if (n + 1 >= size)
			return -1;
		buf[n++] = *s;
		s += *s == ',' ? 2 : 1;
	}
	buf[n] = '\0';
	return 0;
}

/* One "key" or "key=value" token of a sub-option list, not NUL-terminated. */
struct token {
	const char *s;
	int len;
};

static struct token next_token(const char **opts)
{
	const char *end = strchrnul(*opts, ',');
	struct token t = {*opts, (int)(end - *opts)};

	*opts = *end ? end + 1 : NULL;
	return t;
}

static bool token_is(struct token t, const char *word)
{
	return (size_t)t.len == strlen(word) && memcmp(t.s, word, t.len) == 0;
}

/* If t is "key=...", point value at the part after '='. */
static bool token_key(struct token t, const char *key, struct token *value)
{
	size_t klen = strlen(key);

	if ((size_t)t.len <= klen || memcmp(t.s, key, klen) != 0 || t.s[klen] != '=')
		return false;
	value->s = t.s + klen + 1;
	value->len = t.len - (int)klen - 1;
	return true;
}

/* One line for a sub-option or value that is not in the list. */
static int unknown_choice(struct parser *p, const char *option, const char *arg, const char *what,
			  struct token t, const char *expected)
{
	return fail(p, "%s %s: unknown %s '%.*s' (expected %s)", option, arg, what, t.len, t.s,
		    expected);
}

/*
 * The N of "queues=N" (v) into *out: a plain decimal number from 1 to
 * CONFIG_MAX_QUEUES; what counts as one queue is the option's `unit`.
 */
static int parse_queues(struct parser *p, const char *option, const char *arg, struct token v,
			const char *unit, unsigned int *out)
{
	unsigned int value = 0;

	if (v.len == 0)
		return fail(p, "%s %s: queues= needs a number (1 to %d %s)", option, arg,
			    CONFIG_MAX_QUEUES, unit);
	for (int i = 0; i < v.len; i++) {
		if (!is_digit(v.s[i]))
			return fail(p, "%s %s: queues '%.*s' is not a number (expected 1 to %d %s)",
				    option, arg, v.len, v.s, CONFIG_MAX_QUEUES, unit);
		/* Saturate: anything this big is simply above the maximum. */
		if (value <= CONFIG_MAX_QUEUES)
			value = value * 10 + (unsigned int)(v.s[i] - '0');
	}
	if (value == 0 || value > CONFIG_MAX_QUEUES)
		return fail(p, "%s %s: queues=%.*s is out of range (expected 1 to %d %s)", option,
			    arg, v.len, v.s, CONFIG_MAX_QUEUES, unit);
	*out = value;
	return 0;
}

#define VHOST_USER_PREFIX "vhost-user="

/* The socket of a "vhost-user=SOCKET" first field, or NULL if field is not one. */
static const char *vhost_user_socket(const char *field)
{
	size_t n = strlen(VHOST_USER_PREFIX);

	return strncmp(field, VHOST_USER_PREFIX, n) == 0 ? field + n : NULL;
}

/* A vhost-user socket path must fit a UNIX socket address. */
static int check_socket_path(struct parser *p, const char *option, const char *arg,
			     const char *socket)
{
	if (socket[0] == '\0')
		return fail(p, "%s %s: empty vhost-user socket path", option, arg);
	if (strlen(socket) > CONFIG_SOCKET_PATH_MAX)
		return fail(p, "%s %s: vhost-user socket path longer than %d characters", option,
			    arg, CONFIG_SOCKET_PATH_MAX);
	return 0;
}

/*
 * A vhost-user disk: the back-end does the I/O, so the file options do not
 * apply; queues= does, but minivmm hands a back-end one queue only.
 */
static int parse_vhost_user_disk(struct parser *p, const char *arg, struct disk_config *disk,
				 const char *opts)
{
	if (check_socket_path(p, "--disk", arg, disk->path))
		return -1;
	disk->vhost_user = true;
	while (opts) {
		struct token t = next_token(&opts), v;

		if (t.len == 0)
			return fail(p, "--disk %s: empty disk option (stray comma?)", arg);
		if (!token_key(t, "queues", &v))
			return fail(p,
				    "--disk %s: '%.*s' does not apply to a vhost-user disk (the "
				    "back-end opens the image; set read-only and caching there)",
				    arg, t.len, t.s);
		if (parse_queues(p, "--disk", arg, v, "queues", &disk->queues))
			return -1;
	}
	if (disk->queues > 1)
		return fail(p,
			    "--disk %s: a vhost-user disk has one queue (multi-queue is not "
			    "supported with vhost-user yet; leave out queues=)",
			    arg);
	return 0;
}

static int parse_disk(struct parser *p, const char *arg)
{
	struct vm_config *cfg = p->cfg;
	struct disk_config *disk;
	char *path;
	const char *opts;

	if (cfg->nr_disks == CONFIG_MAX_DISKS)
		return fail(p, "--disk %s: too many disks (at most %d)", arg, CONFIG_MAX_DISKS);
	path = cfg->disk_path_buf[cfg->nr_disks];
	if (copy_first_field(arg, path, sizeof(cfg->disk_path_buf[0]), &opts))
		return fail(p, "--disk: path longer than %d characters", CONFIG_PATH_MAX);
	if (path[0] == '\0')
		return fail(p, "--disk %s: empty path", arg);

	disk = &cfg->disks[cfg->nr_disks];
	disk->path = path;
	disk->read_only = false;
	disk->cache = DISK_CACHE_WRITEBACK;
	disk->engine = DISK_ENGINE_IO_URING;
	disk->vhost_user = false;
	disk->queues = 1;
	if (vhost_user_socket(path)) {
		disk->path = vhost_user_socket(path);
		if (parse_vhost_user_disk(p, arg, disk, opts))
			return -1;
		cfg->nr_disks++;
		return 0;
	}

	while (opts) {
		struct token t = next_token(&opts), v;

		if (t.len == 0)
			return fail(p, "--disk %s: empty disk option (stray comma?)", arg);
		if (token_is(t, "ro"))
			disk->read_only = true;
		else if (token_key(t, "cache", &v) && token_is(v, "none"))
			disk->cache = DISK_CACHE_NONE;
		else if (token_key(t, "cache", &v) && token_is(v, "writeback"))
			disk->cache = DISK_CACHE_WRITEBACK;
		else if (token_key(t, "cache", &v))
			return unknown_choice(p, "--disk", arg, "cache mode", v,
					      "none or writeback");
		else if (token_key(t, "engine", &v) && token_is(v, "io_uring"))
			disk->engine = DISK_ENGINE_IO_URING;
		else if (token_key(t, "engine", &v) && token_is(v, "sync"))
			disk->engine = DISK_ENGINE_SYNC;
		else if (token_key(t, "engine", &v))
			return unknown_choice(p, "--disk", arg, "engine", v, "io_uring or sync");
		else if (token_key(t, "queues", &v)) {
			if (parse_queues(p, "--disk", arg, v, "queues", &disk->queues))
				return -1;
		} else
			return unknown_choice(p, "--disk", arg, "disk option", t,
					      "ro, cache=, engine= or queues=");
	}
	cfg->nr_disks++;
	return 0;
}

/* The kernel's own rule for interface names (dev_valid_name()). */
static bool valid_ifname(const char *name)
{
	if (strcmp(name, ".") == 0 || strcmp(name, "..") == 0)
		return false;
	for (; *name; name++)
		if (*name == '/' || *name == ':' || *name == ' ' ||
		    (*name >= '\t' && *name <= '\r'))
			return false;
	return true;
}

/* The part of t before the first c (all of t if none); t keeps what follows c. */
static struct token net_cut(struct token *t, char c, bool *found)
{
	const char *at = memchr(t->s, c, (size_t)t->len);
	struct token head = {t->s, at ? (int)(at - t->s) : t->len};

	*found = at != NULL;
	t->s += head.len + (at ? 1 : 0);
	t->len -= head.len + (at ? 1 : 0);
	return head;
}

/* A dotted-quad IPv4 address, four decimal numbers 0..255 (host byte order). */
static bool net_parse_ipv4(struct token t, uint32_t *out)
{
	uint32_t addr = 0;

	for (int part = 0; part < 4; part++) {
		unsigned int value = 0;
		int digits = 0;

		while (t.len > 0 && is_digit(*t.s) && digits < 4) {
			value = value * 10 + (unsigned int)(*t.s - '0');
			digits++;
			t.s++;
			t.len--;
		}
		if (digits == 0 || digits > 3 || value > 255)
			return false;
		addr = addr << 8 | value;
		if (part < 3) {
			if (t.len == 0 || *t.s != '.')
				return false;
			t.s++;
			t.len--;
		}
	}
	if (t.len != 0)
		return false;
	*out = addr;
	return true;
}

/* A port number 1..65535, plain decimal. */
static bool net_parse_port(struct token t, uint16_t *out)
{
	unsigned int value = 0;

	if (t.len == 0 || t.len > 5)
		return false;
	for (int i = 0; i < t.len; i++) {
		if (!is_digit(t.s[i]))
			return false;
		value = value * 10 + (unsigned int)(t.s[i] - '0');
	}
	if (value == 0 || value > 65535)
		return false;
	*out = (uint16_t)value;
	return true;
}

#define NET_IPV4_FMT	 "%u.%u.%u.%u"
#define NET_IPV4_ARGS(a) (a) >> 24, (a) >> 16 & 0xff, (a) >> 8 & 0xff, (a) % 256
#define NET_HOSTFWD_FORM "[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"

/*
 * hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT (QEMU's form)
 * into *hf.  HOSTADDR defaults to 127.0.0.1 (QEMU's is every interface:
 * reachable from the host only is the safer default), GUESTADDR to the
 * address DHCP hands the guest; it must be a host address of the guest
 * network other than the gateway and DNS server.
 */
static int parse_hostfwd(struct parser *p, const char *arg, struct token v, struct net_hostfwd *hf)
{
	struct token rest = v, proto, haddr, hport, gaddr, gport;
	bool f1, f2, f3, f4;

	proto = net_cut(&rest, ':', &f1);
	haddr = net_cut(&rest, ':', &f2);
	hport = net_cut(&rest, '-', &f3);
	gaddr = net_cut(&rest, ':', &f4);
	gport = rest;
	if (!f1 || !f2 || !f3 || !f4)
		return fail(p, "--net %s: hostfwd '%.*s' is not " NET_HOSTFWD_FORM, arg, v.len,
			    v.s);
	if (proto.len == 0 || token_is(proto, "tcp"))
		hf->udp = false;
	else if (token_is(proto, "udp"))
		hf->udp = true;
	else
		return fail(p, "--net %s: hostfwd protocol '%.*s' (expected tcp or udp)", arg,
			    proto.len, proto.s);
	hf->host_addr = 0x7f000001u;
	if (haddr.len && !net_parse_ipv4(haddr, &hf->host_addr))
		return fail(p, "--net %s: hostfwd host address '%.*s' is not an IPv4 address", arg,
			    haddr.len, haddr.s);
	if (!net_parse_port(hport, &hf->host_port))
		return fail(p, "--net %s: hostfwd host port '%.*s' (expected 1 to 65535)", arg,
			    hport.len, hport.s);
	hf->guest_addr = NET_USER_GUEST_ADDR;
	if (gaddr.len && !net_parse_ipv4(gaddr, &hf->guest_addr))
		return fail(p, "--net %s: hostfwd guest address '%.*s' is not an IPv4 address", arg,
			    gaddr.len, gaddr.s);
	if (!net_parse_port(gport, &hf->guest_port))
		return fail(p, "--net %s: hostfwd guest port '%.*s' (expected 1 to 65535)", arg,
			    gport.len, gport.s);
	if ((hf->guest_addr >> 8) != (NET_USER_NETWORK >> 8) || (hf->guest_addr & 0xff) == 0 ||
	    (hf->guest_addr & 0xff) == 0xff || hf->guest_addr == NET_USER_GATEWAY ||
	    hf->guest_addr == NET_USER_DNS)
		return fail(p,
			    "--net %s: hostfwd guest address " NET_IPV4_FMT
			    " is not a guest's address in 10.0.2.0/24 (10.0.2.2 is the host, "
			    "10.0.2.3 the DNS server)",
			    arg, NET_IPV4_ARGS(hf->guest_addr));
	return 0;
}

/* ip=ADDR/LEN: an IPv4 host address and its prefix length (1 to 32). */
static int parse_net_ip(struct parser *p, const char *arg, struct token v, struct net_config *net)
{
	struct token rest = v, addr;
	unsigned int len = 0;
	uint32_t a, host_mask;
	bool slash;

	addr = net_cut(&rest, '/', &slash);
	if (memchr(v.s, ':', (size_t)v.len))
		return fail(p, "--net %s: ip=%.*s: only IPv4 is supported (ip=ADDR/LEN)", arg,
			    v.len, v.s);
	if (!slash || !net_parse_ipv4(addr, &a))
		return fail(p, "--net %s: ip=%.*s is not ADDR/LEN (e.g. ip=10.0.2.1/24)", arg,
			    v.len, v.s);
	for (int i = 0; i < rest.len && len <= 32; i++)
		len = is_digit(rest.s[i]) ? len * 10 + (unsigned int)(rest.s[i] - '0') : 99;
	if (rest.len == 0 || rest.len > 2 || len < 1 || len > 32)
		return fail(p, "--net %s: ip=%.*s: prefix length '%.*s' (expected 1 to 32)", arg,
			    v.len, v.s, rest.len, rest.s);
	host_mask = len == 32 ? 0 : 0xffffffffu >> len;
	if (a == 0 || a >> 28 >= 0xe || a >> 24 == 127)
		return fail(p,
			    "--net %s: ip=%.*s: not a unicast address for an interface "
			    "(0.0.0.0, loopback, multicast and class E are not)",
			    arg, v.len, v.s);
	if (len <= 30 && ((a & host_mask) == 0 || (a & host_mask) == host_mask))
		return fail(p,
			    "--net %s: ip=%.*s is the network's %s address, not a host's "
			    "(e.g. ip=10.0.2.1/24)",
			    arg, v.len, v.s, (a & host_mask) == 0 ? "network" : "broadcast");
	net->ip_set = true;
	net->ip_addr = a;
	net->ip_prefix_len = len;
	return 0;
}

static int parse_net_options(struct parser *p, const char *arg, struct net_config *net,
			     const char *opts);

static int parse_net(struct parser *p, const char *arg)
{
	struct vm_config *cfg = p->cfg;
	struct net_config *net;
	char *tap;
	const char *opts;

	if (cfg->nr_nets == CONFIG_MAX_NETS)
		return fail(p, "--net %s: too many network interfaces (at most %d)", arg,
			    CONFIG_MAX_NETS);
	net = &cfg->nets[cfg->nr_nets];
	net->tap = NULL;
	net->vhost_user = NULL;
	net->model = NET_MODEL_VIRTIO;
	net->mac_set = false;
	net->queues = 1;
	net->user = false;
	net->nr_hostfwd = 0;
	net->ip_set = false;
	if (vhost_user_socket(arg)) {
		char *socket = cfg->net_socket_buf[cfg->nr_nets];

		if (copy_first_field(vhost_user_socket(arg), socket, sizeof(cfg->net_socket_buf[0]),
				     &opts))
			return fail(p, "--net %s: vhost-user socket path longer than %d characters",
				    arg, CONFIG_SOCKET_PATH_MAX);
		if (check_socket_path(p, "--net", arg, socket))
			return -1;
		net->vhost_user = socket;
		return parse_net_options(p, arg, net, opts);
	}
	tap = cfg->net_tap_buf[cfg->nr_nets];
	/* "user" is user-mode networking, never a tap of that name. */
	if (strncmp(arg, "user", 4) == 0 && (arg[4] == '\0' || (arg[4] == ',' && arg[5] != ','))) {
		snprintf(tap, sizeof(cfg->net_tap_buf[0]), "user");
		net->tap = tap;
		net->user = true;
		return parse_net_options(p, arg, net, arg[4] ? arg + 5 : NULL);
	}
	if (copy_first_field(arg, tap, sizeof(cfg->net_tap_buf[0]), &opts))
		return fail(p, "--net %s: tap name longer than %d characters", arg,
			    CONFIG_TAP_NAME_MAX);
	if (tap[0] == '\0')
		return fail(p, "--net %s: empty tap name", arg);
	if (!valid_ifname(tap))
		return fail(p, "--net %s: '%s' is not a valid interface name", arg, tap);
	net->tap = tap;
	return parse_net_options(p, arg, net, opts);
}

/* The ",OPT..." of --net, for a tap or a vhost-user back-end. */
static int parse_net_options(struct parser *p, const char *arg, struct net_config *net,
			     const char *opts)
{
	while (opts) {
		struct token t = next_token(&opts), v;

		if (t.len == 0)
			return fail(p, "--net %s: empty net option (stray comma?)", arg);
		if (token_key(t, "model", &v) && token_is(v, "virtio")) {
			net->model = NET_MODEL_VIRTIO;
		} else if (token_key(t, "model", &v) && token_is(v, "e1000")) {
			net->model = NET_MODEL_E1000;
		} else if (token_key(t, "model", &v)) {
			return unknown_choice(p, "--net", arg, "model", v, "virtio or e1000");
		} else if (token_key(t, "mac", &v)) {
			char mac[32];
			const char *why;

			/* Longer than any MAC: a too-long value still fails the length check. */
			snprintf(mac, sizeof(mac), "%.*s", v.len, v.s);
			if (parse_mac(mac, net->mac, &why))
				return fail(p, "--net %s: bad MAC '%.*s': %s", arg, v.len, v.s,
					    why);
			net->mac_set = true;
		} else if (token_key(t, "queues", &v)) {
			if (parse_queues(p, "--net", arg, v, "queue pairs", &net->queues))
				return -1;
		} else if (token_key(t, "hostfwd", &v) && net->user) {
			if (net->nr_hostfwd == CONFIG_MAX_HOSTFWDS)
				return fail(p, "--net %s: more than %d hostfwd=", arg,
					    CONFIG_MAX_HOSTFWDS);
			if (parse_hostfwd(p, arg, v, &net->hostfwd[net->nr_hostfwd]))
				return -1;
			net->nr_hostfwd++;
		} else if (token_key(t, "hostfwd", &v)) {
			return fail(
			    p, "--net %s: hostfwd= needs user-mode networking (--net user,...)",
			    arg);
		} else if (token_key(t, "ip", &v) && net->tap && !net->user) {
			if (parse_net_ip(p, arg, v, net))
				return -1;
		} else if (token_key(t, "ip", &v)) {
			return fail(
			    p, "--net %s: ip= configures a tap minivmm creates (--net TAP,ip=...)",
			    arg);
		} else {
			return unknown_choice(p, "--net", arg, "net option", t,
					      net->user ? "model=, mac= or hostfwd="
							: "model=, mac=, ip= or queues=");
		}
	}
	if (net->user && net->queues > 1)
		return fail(p,
			    "--net %s: user-mode networking has one queue pair (leave out queues=)",
			    arg);
	for (unsigned int i = 0; i < net->nr_hostfwd; i++)
		for (unsigned int j = 0; j < i; j++)
			if (net->hostfwd[i].udp == net->hostfwd[j].udp &&
			    net->hostfwd[i].host_port == net->hostfwd[j].host_port &&
			    net->hostfwd[i].host_addr == net->hostfwd[j].host_addr)
				return fail(p, "--net %s: two hostfwd= for %s port %u", arg,
					    net->hostfwd[i].udp ? "udp" : "tcp",
					    net->hostfwd[i].host_port);
	if (net->vhost_user && net->model != NET_MODEL_VIRTIO)
		return fail(p,
			    "--net %s: a vhost-user back-end serves virtio-net only (model=virtio)",
			    arg);
	if (net->vhost_user && net->queues > 1)
		return fail(p,
			    "--net %s: a vhost-user card has one queue pair (multi-queue is not "
			    "supported with vhost-user yet; leave out queues=)",
			    arg);
	if (net->model == NET_MODEL_E1000 && net->queues > 1)
		return fail(p,
			    "--net %s: the e1000 has one queue (queues= above 1 needs "
			    "model=virtio)",
			    arg);
	p->cfg->nr_nets++;
	return 0;
}

static int parse_mem(struct parser *p, const char *arg)
{
	char why[128];
	uint64_t size;

	if (parse_size(arg, &size, why, sizeof(why)))
		return fail(p, "--mem %s: %s", arg, why);
	if (size < CONFIG_MIN_MEM)
		return fail(p,
			    "--mem %s: below the 16 MiB minimum (Linux kernels load at 16 MiB, "
			    "so less RAM cannot boot one)",
			    arg);
	if (size > CONFIG_MAX_MEM)
		return fail(p, "--mem %s: above the 1 TiB maximum", arg);
	p->cfg->mem_size = size;
	return 0;
}

static int parse_cpus(struct parser *p, const char *arg)
{
	unsigned long value = 0;
	const char *s;

	for (s = arg; *s; s++) {
		if (!is_digit(*s))
			return fail(p, "--cpus %s: not a number", arg);
		/* Saturate: anything this big is simply above the maximum. */
		if (value <= VM_MAX_CPUS)
			value = value * 10 + (unsigned long)(*s - '0');
	}
	if (value == 0)
		return fail(p, "--cpus %s: at least 1 vCPU is needed", arg);
	if (value > VM_MAX_CPUS)
		return fail(p, "--cpus %s: above the maximum of %d vCPUs", arg, VM_MAX_CPUS);
	p->cfg->cpus = (unsigned int)value;
	return 0;
}

static int parse_console(struct parser *p, const char *arg)
{
	struct vm_config *cfg = p->cfg;

	if (strcmp(arg, "stdio") == 0) {
		cfg->console = CONSOLE_STDIO;
		cfg->console_path = NULL;
	} else if (strcmp(arg, "none") == 0) {
		cfg->console = CONSOLE_NONE;
		cfg->console_path = NULL;
	} else if (strncmp(arg, "file:", 5) == 0) {
		if (arg[5] == '\0')
			return fail(p, "--console %s: empty path", arg);
		cfg->console = CONSOLE_FILE;
		cfg->console_path = arg + 5;
	} else {
		return fail(p, "--console %s: expected stdio, none or file:PATH", arg);
	}
	return 0;
}

static int parse_cpu_profile(struct parser *p, const char *arg)
{
	if (strcmp(arg, "auto") == 0)
		p->cfg->cpu_profile = CPU_PROFILE_AUTO;
	else if (strcmp(arg, "host") == 0)
		p->cfg->cpu_profile = CPU_PROFILE_HOST;
	else if (strcmp(arg, "compat") == 0)
		p->cfg->cpu_profile = CPU_PROFILE_COMPAT;
	else
		return fail(p, "--cpu-profile %s: expected auto, host or compat", arg);
	return 0;
}

static int parse_seccomp(struct parser *p, const char *arg)
{
	if (strcmp(arg, "on") == 0)
		p->cfg->seccomp = true;
	else if (strcmp(arg, "off") == 0)
		p->cfg->seccomp = false;
	else
		return fail(p, "--seccomp %s: expected on or off", arg);
	return 0;
}

static int parse_memory_backend(struct parser *p, const char *arg)
{
	if (strcmp(arg, "anon") == 0)
		p->cfg->mem_backend = MEM_BACKEND_ANON;
	else if (strcmp(arg, "memfd") == 0)
		p->cfg->mem_backend = MEM_BACKEND_MEMFD;
	else if (strcmp(arg, "hugetlb") == 0)
		p->cfg->mem_backend = MEM_BACKEND_HUGETLB;
	else
		return fail(p, "--memory-backend %s: expected anon, memfd or hugetlb", arg);
	return 0;
}

/* True if a device's queues are served by another process that must map guest RAM. */
static bool config_has_vhost_user(const struct vm_config *cfg)
{
	for (unsigned int i = 0; i < cfg->nr_disks; i++)
		if (cfg->disks[i].vhost_user)
			return true;
	for (unsigned int i = 0; i < cfg->nr_nets; i++)
		if (cfg->nets[i].vhost_user)
			return true;
	return false;
}

/* Guest RAM a back-end can map: a memfd, chosen unless the user chose otherwise. */
static int check_memory_backend(struct parser *p)
{
	struct vm_config *cfg = p->cfg;

	if (cfg->mem_backend == MEM_BACKEND_HUGETLB && cfg->mem_size % (2ULL << 20))
		return fail(p, "--memory-backend hugetlb: --mem must be a multiple of 2 MiB");
	if (!config_has_vhost_user(cfg))
		return 0;
	if (cfg->mem_backend == MEM_BACKEND_ANON)
		return fail(p, "--memory-backend anon: a vhost-user back-end must map guest RAM; "
			       "use memfd or hugetlb");
	if (cfg->mem_backend == MEM_BACKEND_AUTO)
		cfg->mem_backend = MEM_BACKEND_MEMFD;
	return 0;
}

static int parse_cpu_affinity(struct parser *p, const char *arg)
{
	char why[256];

	if (cpu_affinity_parse(arg, &p->cfg->cpu_affinity, why, sizeof(why)))
		return fail(p, "--cpu-affinity %s: %s", arg, why);
	p->cpu_affinity_arg = arg;
	return 0;
}

/*
 * Once every option is in: vcpuN= against --cpus (which may come later),
 * and every CPU against the ones this process may run on, so that a typo
 * is an error here rather than a placement the kernel silently narrows.
 */
static int check_cpu_affinity(struct parser *p)
{
	const char *arg = p->cpu_affinity_arg;
	cpu_set_t allowed;
	char why[512];

	if (!arg)
		return 0;
	if (sched_getaffinity(0, sizeof(allowed), &allowed) < 0)
		return fail(p, "--cpu-affinity %s: cannot read the CPUs minivmm may run on: %s",
			    arg, strerror(errno));
	if (cpu_affinity_check(&p->cfg->cpu_affinity, p->cfg->cpus, &allowed, why, sizeof(why)))
		return fail(p, "--cpu-affinity %s: %s", arg, why);
	return 0;
}

/* What an option's value is, for "--disk: empty path". */
static const char *value_kind(int opt)
{
	switch (opt) {
	case OPT_KERNEL:
	case OPT_INITRD:
	case OPT_DISK:
	case OPT_STATS:
	case OPT_API_SOCKET:
	case OPT_PIDFILE:
	case OPT_DUMP_DTB:
		return "path";
	case OPT_NET:
		return "tap name";
	case OPT_MEM:
		return "size";
	}
	return "value";
}

static int parse_cmdline(struct parser *p, const char *arg)
{
	size_t len = strlen(arg);

	if (len > CONFIG_USER_CMDLINE_MAX)
		return fail(p,
			    "--cmdline: %zu characters, at most %d allowed (devices append to the "
			    "command line too)",
			    len, CONFIG_USER_CMDLINE_MAX);
	p->cfg->cmdline = arg;
	return 0;
}

/* The control socket's path must fit a UNIX socket address. */
static int parse_api_socket(struct parser *p, const char *arg)
{
	if (strlen(arg) > CONFIG_SOCKET_PATH_MAX)
		return fail(p, "--api-socket %s: path longer than %d characters", arg,
			    CONFIG_SOCKET_PATH_MAX);
	p->cfg->api_socket = arg;
	return 0;
}

/* "--name" or "--name=..." naming one of our options, for "--kernel --mem 1G". */
static bool names_option(const char *arg)
{
	const struct option *o;
	size_t len;

	if (strncmp(arg, "--", 2) != 0)
		return false;
	arg += 2;
	len = strcspn(arg, "=");
	for (o = long_options; o->name; o++)
		if (strlen(o->name) == len && strncmp(o->name, arg, len) == 0)
			return true;
	return false;
}

/* getopt_long returned '?': say which kind of unknown it was. */
static int unknown_option(struct parser *p, char **argv)
{
	const struct option *o;
	const char *arg, *name;
	char candidates[256] = "";
	size_t len, used = 0;
	int matches = 0;

	if (optopt != 0 && option_by_val(optopt))
		return fail(p, "--%s does not take a value", option_name(optopt));
	if (optopt != 0) {
		/* "-kernel" is parsed as -k -e ...: point at the likely slip. */
		for (o = long_options; o->name; o++)
			if (o->name[0] == optopt)
				return fail(p,
					    "unknown option '-%c' (long options start with '--')",
					    optopt);
		return fail(p, "unknown option '-%c' (see --help)", optopt);
	}

	/* Unknown or ambiguous long option: getopt has stepped past it. */
	arg = argv[optind - 1];
	name = arg + 2;
	len = strcspn(name, "=");
	for (o = long_options; o->name; o++) {
		if (len == 0 || strncmp(o->name, name, len) != 0)
			continue;
		matches++;
		used += (size_t)snprintf(candidates + used, sizeof(candidates) - used, "%s--%s",
					 used ? ", " : "", o->name);
		if (used >= sizeof(candidates))
			used = sizeof(candidates) - 1;
	}
	if (matches > 1)
		return fail(p, "ambiguous option '%.*s' (could be %s)", (int)len + 2, arg,
			    candidates);
	return fail(p, "unknown option '%.*s' (see --help)", (int)len + 2, arg);
}

#define STRINGIFY(x) #x
#define STR(x)	     STRINGIFY(x)

/* Help text: option syntax, then its one-line description; "" continues the option above. */
static const struct {
	const char *syntax;
	const char *text;
} help_lines[] = {
    {"--kernel PATH", "ELF vmlinux, bzImage or ELF test guest to boot (required)"},
    {"--initrd PATH", "initial ramdisk (default: none)"},
    {"--cmdline STR", "kernel command line (default: \"" CONFIG_DEFAULT_CMDLINE "\")"},
    {"", "at most " STR(CONFIG_USER_CMDLINE_MAX) " characters"},
    {"--mem SIZE", "guest RAM, 16M to 1T, suffixes k/M/G/T (default: 256M)"},
    {"--cpus N", "number of vCPUs, 1 to " STR(VM_MAX_CPUS) " (default: 1)"},
    {"--disk PATH[,OPT]...", "virtio-blk disk, up to " STR(CONFIG_MAX_DISKS) "; OPT may be"},
    {"", "  ro                     read-only (default: read-write)"},
    {"", "  cache=none|writeback   host page cache (default: writeback)"},
    {"", "  engine=io_uring|sync   I/O engine (default: io_uring)"},
    {"", "  queues=N               request queues, 1 to " STR(CONFIG_MAX_QUEUES) " (default: 1)"},
    {"", "write ,, for a comma inside PATH"},
    {"--disk vhost-user=SOCKET", "virtio-blk disk served by a vhost-user back-end"},
    {"", "listening on SOCKET (no OPT: the back-end owns the image)"},
    {"--net TAP[,OPT]...",
     "network card on tap device TAP, up to " STR(CONFIG_MAX_NETS) "; OPT may be"},
    {"", "  model=virtio|e1000     device model (default: virtio)"},
    {"", "  mac=XX:XX:XX:XX:XX:XX  MAC address (default: 02:..., random per VM,"},
    {"", "                         printed at start)"},
    {"",
     "  queues=N               virtio queue pairs, 1 to " STR(CONFIG_MAX_QUEUES) " (default: 1);"},
    {"", "                         above 1 the tap must be multi-queue"},
    {"", "  ip=ADDR/LEN            bring the tap minivmm creates up with this IPv4"},
    {"", "                         host address (e.g. 10.0.2.1/24)"},
    {"", "creating or configuring a tap needs CAP_NET_ADMIN (root)"},
    {"--net user[,OPT]...", "user-mode networking (libslirp), no root needed: the guest"},
    {"", "is 10.0.2.15 (DHCP), the host 10.0.2.2, DNS 10.0.2.3; OPT may be"},
    {"", "  model=, mac=           as above"},
    {"", "  hostfwd=[tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"},
    {"", "                         forward a host port to the guest (HOSTADDR"},
    {"", "                         default 127.0.0.1), up to " STR(CONFIG_MAX_HOSTFWDS)},
    {"--net vhost-user=SOCKET[,mac=MAC]", "virtio-net card served by a vhost-user back-end"},
    {"", "listening on SOCKET"},
    {"--console stdio|none|file:PATH", "where the serial console goes (default: stdio)"},
    {"--stats[=PATH]", "print device and vCPU statistics at exit (default: off;"},
    {"", "to stderr unless PATH is given)"},
    {"--hugepages", "back guest RAM with transparent huge pages (default: off)"},
    {"--memory-backend anon|memfd|hugetlb", "what guest RAM is: private anonymous memory, a"},
    {"", "shareable memfd, or a memfd of 2 MiB hugetlbfs pages"},
    {"", "(default: anon; memfd with a vhost-user device)"},
    {"--cpu-profile auto|host|compat", "CPU features shown to the guest; auto chooses compat"},
    {"", "when the host emulates guest kernel code (default: auto)"},
    {"--cpu-affinity KEY=LIST[,KEY=LIST]...", "host CPUs for minivmm's threads; KEY may be"},
    {"", "  vcpus                  every vCPU thread"},
    {"", "  vcpuN                  vCPU N (overrides vcpus)"},
    {"", "  io                     every device I/O thread"},
    {"", "LIST as for taskset -c, e.g. vcpus=0,2-3,io=1"},
    {"", "(default: threads run wherever minivmm may)"},
    {"--no-acpi", "no ACPI tables: the guest finds CPUs in the MP table and"},
    {"", "virtio-mmio devices on the command line only (default: both)"},
    {"--api-socket PATH", "control socket (0600) taking one JSON request per line;"},
    {"", "see docs/usage.md and `minivmm ctl` (default: none)"},
    {"--pidfile PATH", "write minivmm's process ID to PATH (default: none)"},
    {"--dump-dtb PATH", "arm64: also write the guest's device tree blob to PATH"},
    {"", "(default: none)"},
    {"--seccomp on|off", "system call filters per thread; off is for debugging"},
    {"", "(default: on)"},
    {"-v, --verbose", "also print debug messages (default: off)"},
    {"-h, --help", "print this help and exit"},
    {"-V, --version", "print the version and exit"},
};

/* After the options: the console keys (vmm/console.c) and the exit statuses (vm.h). */
static void print_help_epilogue(FILE *out)
{
	fputs("\nConsole keys (--console stdio): Ctrl-A x quit, Ctrl-A h help,\n"
	      "  Ctrl-A Ctrl-A send Ctrl-A to the guest.\n\nExit status:\n",
	      out);
	fprintf(out, "  0-%-4d the guest powered off with that status (a larger one gives %d)\n",
		EXIT_STATUS_GUEST_MAX, EXIT_STATUS_GUEST_MAX);
	fprintf(out, "  %-6d error in minivmm, at start-up or while running\n", EXIT_STATUS_ERROR);
	fprintf(out, "  %-6d bad command line\n", EXIT_STATUS_USAGE);
	fprintf(out, "  %-6d the guest reset the machine\n", EXIT_STATUS_RESET);
	fprintf(out, "  %-6d triple fault in the guest\n", EXIT_STATUS_TRIPLE_FAULT);
	fprintf(out, "  %-6d Ctrl-A x on the console\n", EXIT_STATUS_CONSOLE);
	fprintf(out, "  %-6d stop forced through the control socket (--api-socket)\n",
		EXIT_STATUS_API_STOP);
	fprintf(out, "  %d+N  signal N (%d SIGHUP, %d SIGINT, %d SIGTERM)\n",
		EXIT_STATUS_SIGNAL_BASE, EXIT_STATUS_SIGNAL_BASE + SIGHUP,
		EXIT_STATUS_SIGNAL_BASE + SIGINT, EXIT_STATUS_SIGNAL_BASE + SIGTERM);
	fputs("The last line on stderr, \"minivmm: stopped: ...\", says why minivmm stopped.\n",
	      out);
}

static void print_help(FILE *out)
{
	const int width = 22;
	size_t i;

	fputs("Usage: minivmm --kernel PATH [OPTION]...\n"
	      "Boot a Linux kernel or an ELF test guest in a KVM virtual machine.\n\n",
	      out);
	for (i = 0; i < ARRAY_SIZE(help_lines); i++) {
		if ((int)strlen(help_lines[i].syntax) > width)
			fprintf(out, "  %s\n  %-*s %s\n", help_lines[i].syntax, width, "",
				help_lines[i].text);
		else
			fprintf(out, "  %-*s %s\n", width, help_lines[i].syntax,
				help_lines[i].text);
	}
	print_help_epilogue(out);
}

static void config_defaults(struct vm_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	cfg->mem_size = CONFIG_DEFAULT_MEM;
	cfg->cpus = 1;
	cfg->console = CONSOLE_STDIO;
	cfg->cpu_profile = CPU_PROFILE_AUTO;
	cfg->seccomp = true;
	cfg->acpi = true;
}

static int handle_option(struct parser *p, int opt, char *arg)
{
	struct vm_config *cfg = p->cfg;

	/* An empty --cmdline is a deliberate choice; nothing else may be empty. */
	if (arg && arg[0] == '\0' && opt != OPT_CMDLINE)
		return fail(p, "--%s: empty %s", option_name(opt), value_kind(opt));

	switch (opt) {
	case OPT_KERNEL:
		cfg->kernel = arg;
		return 0;
	case OPT_INITRD:
		cfg->initrd = arg;
		return 0;
	case OPT_CMDLINE:
		return parse_cmdline(p, arg);
	case OPT_MEM:
		return parse_mem(p, arg);
	case OPT_CPUS:
		return parse_cpus(p, arg);
	case OPT_DISK:
		return parse_disk(p, arg);
	case OPT_NET:
		return parse_net(p, arg);
	case OPT_CONSOLE:
		return parse_console(p, arg);
	case OPT_STATS:
		cfg->stats = true;
		cfg->stats_path = arg;
		return 0;
	case OPT_HUGEPAGES:
		cfg->hugepages = true;
		return 0;
	case OPT_CPU_PROFILE:
		return parse_cpu_profile(p, arg);
	case OPT_CPU_AFFINITY:
		return parse_cpu_affinity(p, arg);
	case OPT_SECCOMP:
		return parse_seccomp(p, arg);
	case OPT_MEMORY_BACKEND:
		return parse_memory_backend(p, arg);
	case OPT_NO_ACPI:
		cfg->acpi = false;
		return 0;
	case OPT_API_SOCKET:
		return parse_api_socket(p, arg);
	case OPT_PIDFILE:
		cfg->pidfile = arg;
		return 0;
	case OPT_DUMP_DTB:
		if (!ARCH_HAS_DEVICE_TREE)
			return fail(p, "--dump-dtb: x86 guests are described by ACPI and the MP "
				       "table, not a device tree (arm64 only)");
		cfg->dump_dtb = arg;
		return 0;
	case 'v':
		cfg->verbose = true;
		return 0;
	}
	return fail(p, "internal error: unhandled option %d", opt);
}

static enum config_result parse_args(struct parser *p, int argc, char **argv, FILE *out)
{
	int opt;

	while ((opt = getopt_long(argc, argv, short_options, long_options, NULL)) != -1) {
		switch (opt) {
		case 'h':
			print_help(out);
			return CONFIG_EXIT_SUCCESS;
		case 'V':
			fprintf(out, "minivmm " MINIVMM_VERSION "\n");
			return CONFIG_EXIT_SUCCESS;
		case ':':
			fail(p, "--%s: missing value", option_name(optopt));
			return CONFIG_ERROR;
		case '?':
			unknown_option(p, argv);
			return CONFIG_ERROR;
		}
		/* A value that is itself one of our options means the real one was forgotten. */
		if (optarg && optarg == argv[optind - 1] && names_option(optarg)) {
			fail(p, "--%s: missing value (next argument is the option '%s')",
			     option_name(opt), optarg);
			return CONFIG_ERROR;
		}
		if (handle_option(p, opt, optarg))
			return CONFIG_ERROR;
	}

	if (optind < argc) {
		if (optind > 0 && strcmp(argv[optind - 1], "--stats") == 0)
			fail(p, "unexpected argument '%s' (write --stats=PATH to name the file)",
			     argv[optind]);
		else
			fail(p, "unexpected argument '%s'", argv[optind]);
		return CONFIG_ERROR;
	}
	if (!p->cfg->kernel) {
		fail(p, "missing --kernel PATH (see --help)");
		return CONFIG_ERROR;
	}
	if (check_cpu_affinity(p) || check_memory_backend(p))
		return CONFIG_ERROR;
	return CONFIG_OK;
}

enum config_result config_parse(struct vm_config *cfg, int argc, char **argv, char *err,
				size_t errlen, void *out)
{
	struct parser p = {cfg, err, errlen, NULL};
	int saved_opterr = opterr;
	enum config_result result;

	if (err && errlen)
		err[0] = '\0';
	config_defaults(cfg);
	/* 0, not 1: makes glibc re-initialise, so repeated calls start afresh. */
	optind = 0;
	opterr = 0;
	result = parse_args(&p, argc, argv, out ? out : stdout);
	opterr = saved_opterr;
	return result;
}

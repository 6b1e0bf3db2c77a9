/*
 * --net user (hostfwd=) and --net TAP,ip= on the command line: the accepted
 * forms with what they set, and every malformed one refused with one line
 * naming the problem.
 */
#include <check.h>
#include <string.h>

#include "helpers.h"
#include "vm.h"
#include "vmm/config.h"

#define NU_MAX_ARGS 8

static struct vm_config nu_cfg;
static char nu_err[512];

static enum config_result nu_parse(const char *const *args)
{
	static char *argv[NU_MAX_ARGS + 2];
	int argc = 0;

	argv[argc++] = "minivmm";
	for (int i = 0; args[i]; i++) {
		ck_assert_int_lt(argc, NU_MAX_ARGS + 1);
		argv[argc++] = (char *)args[i];
	}
	argv[argc] = NULL;
	memset(nu_err, 0, sizeof(nu_err));
	return config_parse(&nu_cfg, argc, argv, nu_err, sizeof(nu_err), NULL);
}

#define NU_OK(...)                                                                                 \
	ck_assert_msg(nu_parse((const char *const[]){"--kernel", "k", __VA_ARGS__, NULL}) ==       \
			  CONFIG_OK,                                                               \
		      "refused: %s", nu_err)

#define IP4(a, b, c, d) ((uint32_t)(a) << 24 | (uint32_t)(b) << 16 | (uint32_t)(c) << 8 | (d))

START_TEST(test_user_plain)
{
	NU_OK("--net", "user");
	ck_assert_uint_eq(nu_cfg.nr_nets, 1);
	ck_assert(nu_cfg.nets[0].user);
	ck_assert_str_eq(nu_cfg.nets[0].tap, "user");
	ck_assert_ptr_null(nu_cfg.nets[0].vhost_user);
	ck_assert_int_eq(nu_cfg.nets[0].model, NET_MODEL_VIRTIO);
	ck_assert_uint_eq(nu_cfg.nets[0].nr_hostfwd, 0);
	ck_assert(!nu_cfg.nets[0].mac_set);
	ck_assert(!nu_cfg.nets[0].ip_set);
}
END_TEST

START_TEST(test_user_hostfwd)
{
	const struct net_hostfwd *f;

	NU_OK("--net",
	      "user,hostfwd=tcp::2222-:22,model=e1000,hostfwd=udp:0.0.0.0:5353-10.0.2.20:53,"
	      "hostfwd=:127.0.0.2:8080-:80,mac=02:00:00:00:00:07");
	ck_assert(nu_cfg.nets[0].user);
	ck_assert_int_eq(nu_cfg.nets[0].model, NET_MODEL_E1000);
	ck_assert(nu_cfg.nets[0].mac_set);
	ck_assert_uint_eq(nu_cfg.nets[0].nr_hostfwd, 3);
	f = &nu_cfg.nets[0].hostfwd[0];
	ck_assert(!f->udp);
	ck_assert_uint_eq(f->host_addr, IP4(127, 0, 0, 1)); /* the default: loopback only */
	ck_assert_uint_eq(f->host_port, 2222);
	ck_assert_uint_eq(f->guest_addr, IP4(10, 0, 2, 15)); /* what DHCP hands out */
	ck_assert_uint_eq(f->guest_port, 22);
	f = &nu_cfg.nets[0].hostfwd[1];
	ck_assert(f->udp);
	ck_assert_uint_eq(f->host_addr, 0);
	ck_assert_uint_eq(f->host_port, 5353);
	ck_assert_uint_eq(f->guest_addr, IP4(10, 0, 2, 20));
	ck_assert_uint_eq(f->guest_port, 53);
	f = &nu_cfg.nets[0].hostfwd[2];
	ck_assert(!f->udp); /* no protocol: tcp */
	ck_assert_uint_eq(f->host_addr, IP4(127, 0, 0, 2));
	ck_assert_uint_eq(f->host_port, 8080);
	ck_assert_uint_eq(f->guest_port, 80);
}
END_TEST

START_TEST(test_user_limits)
{
	/* Eight forwards, the ports at their ends, a user NIC beside a tap. */
	NU_OK(
	    "--net",
	    "user,hostfwd=tcp::1-:65535,hostfwd=tcp::65535-:1,hostfwd=tcp::3-:3,hostfwd=tcp::4-:4,"
	    "hostfwd=tcp::5-:5,hostfwd=tcp::6-:6,hostfwd=tcp::7-:7,hostfwd=udp::1-:1",
	    "--net", "tap0,ip=192.168.7.1/30", "--net", "user");
	ck_assert_uint_eq(nu_cfg.nr_nets, 3);
	ck_assert_uint_eq(nu_cfg.nets[0].nr_hostfwd, CONFIG_MAX_HOSTFWDS);
	ck_assert_uint_eq(nu_cfg.nets[0].hostfwd[0].host_port, 1);
	ck_assert_uint_eq(nu_cfg.nets[0].hostfwd[0].guest_port, 65535);
	ck_assert(!nu_cfg.nets[1].user);
	ck_assert(nu_cfg.nets[2].user);
	ck_assert_uint_eq(nu_cfg.nets[2].nr_hostfwd, 0);
}
END_TEST

START_TEST(test_tap_ip)
{
	NU_OK("--net", "tap0,ip=10.1.2.1/24,model=e1000", "--net", "tap1,ip=172.16.0.9/32", "--net",
	      "tap2");
	ck_assert(nu_cfg.nets[0].ip_set);
	ck_assert_uint_eq(nu_cfg.nets[0].ip_addr, IP4(10, 1, 2, 1));
	ck_assert_uint_eq(nu_cfg.nets[0].ip_prefix_len, 24);
	ck_assert_int_eq(nu_cfg.nets[0].model, NET_MODEL_E1000);
	ck_assert(!nu_cfg.nets[0].user);
	ck_assert(nu_cfg.nets[1].ip_set);
	ck_assert_uint_eq(nu_cfg.nets[1].ip_prefix_len, 32);
	ck_assert(!nu_cfg.nets[2].ip_set);
}
END_TEST

/* A tap may still be called something that merely starts with "user". */
START_TEST(test_user_prefix_is_a_tap)
{
	NU_OK("--net", "user0", "--net", "users,,x");
	ck_assert(!nu_cfg.nets[0].user);
	ck_assert_str_eq(nu_cfg.nets[0].tap, "user0");
	ck_assert(!nu_cfg.nets[1].user);
}
END_TEST

static const struct nu_bad {
	const char *net;
	const char *needle;
} nu_bad[] = {
    {"user,hostfwd=", "hostfwd '' is not [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT"},
    {"user,hostfwd=tcp::2222", "hostfwd 'tcp::2222' is not [tcp|udp]"},
    {"user,hostfwd=2222-22", "is not [tcp|udp]"},
    {"user,hostfwd=tcp:2222-:22", "is not [tcp|udp]"},
    {"user,hostfwd=sctp::1-:1", "hostfwd protocol 'sctp' (expected tcp or udp)"},
    {"user,hostfwd=tcp:localhost:1-:1", "hostfwd host address 'localhost' is not an IPv4"},
    {"user,hostfwd=tcp:1.2.3:1-:1", "host address '1.2.3'"},
    {"user,hostfwd=tcp:1.2.3.256:1-:1", "host address '1.2.3.256'"},
    {"user,hostfwd=tcp:1.2.3.4.5:1-:1", "host address '1.2.3.4.5'"},
    {"user,hostfwd=tcp:0001.2.3.4:1-:1", "host address '0001.2.3.4'"},
    {"user,hostfwd=tcp::0-:22", "hostfwd host port '0' (expected 1 to 65535)"},
    {"user,hostfwd=tcp::65536-:22", "host port '65536'"},
    {"user,hostfwd=tcp::-:22", "host port ''"},
    {"user,hostfwd=tcp::22x-:22", "host port '22x'"},
    {"user,hostfwd=tcp::2222-:", "hostfwd guest port '' (expected 1 to 65535)"},
    {"user,hostfwd=tcp::2222-:100000", "guest port '100000'"},
    {"user,hostfwd=tcp::2222-10.0.2:22", "hostfwd guest address '10.0.2' is not an IPv4"},
    {"user,hostfwd=tcp::2222-10.0.3.15:22", "guest address 10.0.3.15 is not a guest's address"},
    {"user,hostfwd=tcp::2222-10.0.2.2:22", "10.0.2.2 is the host"},
    {"user,hostfwd=tcp::2222-10.0.2.3:22", "guest address 10.0.2.3 is not"},
    {"user,hostfwd=tcp::2222-10.0.2.255:22", "guest address 10.0.2.255 is not"},
    {"user,hostfwd=tcp::2222-:22,hostfwd=tcp:127.0.0.1:2222-:23", "two hostfwd= for tcp port 2222"},
    {"user,hostfwd=tcp::1-:1,hostfwd=tcp::2-:1,hostfwd=tcp::3-:1,hostfwd=tcp::4-:1,"
     "hostfwd=tcp::5-:1,hostfwd=tcp::6-:1,hostfwd=tcp::7-:1,hostfwd=tcp::8-:1,hostfwd=tcp::9-:1",
     "more than 8 hostfwd="},
    {"user,queues=2", "user-mode networking has one queue pair"},
    {"user,ip=10.0.2.1/24", "ip= configures a tap minivmm creates"},
    {"user,", "empty net option"},
    {"user,ro", "unknown net option 'ro' (expected model=, mac= or hostfwd=)"},
    {"user,model=rtl8139", "unknown model 'rtl8139'"},
    {"user,mac=01:00:00:00:00:01", "bad MAC"},
    {"tap0,hostfwd=tcp::2222-:22", "hostfwd= needs user-mode networking"},
    {"vhost-user=/s,hostfwd=tcp::2222-:22", "hostfwd= needs user-mode networking"},
    {"vhost-user=/s,ip=10.0.0.1/24", "ip= configures a tap minivmm creates"},
    {"tap0,ro", "(expected model=, mac=, ip= or queues=)"},
    {"tap0,ip=", "ip= is not ADDR/LEN (e.g. ip=10.0.2.1/24)"},
    {"tap0,ip=10.0.0.1", "ip=10.0.0.1 is not ADDR/LEN"},
    {"tap0,ip=10.0.0/24", "ip=10.0.0/24 is not ADDR/LEN"},
    {"tap0,ip=10.0.0.1/", "prefix length '' (expected 1 to 32)"},
    {"tap0,ip=10.0.0.1/0", "prefix length '0'"},
    {"tap0,ip=10.0.0.1/33", "prefix length '33'"},
    {"tap0,ip=10.0.0.1/2x", "prefix length '2x'"},
    {"tap0,ip=10.0.0.1/024", "prefix length '024'"},
    {"tap0,ip=fd00::1/64", "only IPv4 is supported"},
    {"tap0,ip=0.0.0.0/8", "not a unicast address for an interface"},
    {"tap0,ip=127.0.0.2/8", "not a unicast address"},
    {"tap0,ip=224.0.0.1/4", "not a unicast address"},
    {"tap0,ip=10.0.2.0/24", "is the network's network address"},
    {"tap0,ip=10.0.2.255/24", "is the network's broadcast address"},
};

START_TEST(test_bad)
{
	const struct nu_bad *c = &nu_bad[_i];
	enum config_result r =
	    nu_parse((const char *const[]){"--kernel", "k", "--net", c->net, NULL});

	ck_assert_msg(r == CONFIG_ERROR, "--net %s accepted", c->net);
	ck_assert_msg(strchr(nu_err, '\n') == NULL, "more than one line: %s", nu_err);
	ck_assert_msg(strstr(nu_err, c->needle), "--net %s: error '%s' lacks '%s'", c->net, nu_err,
		      c->needle);
	ck_assert_msg(strstr(nu_err, "--net "), "error '%s' does not name --net", nu_err);
}
END_TEST

Suite *net_user_config_suite(void)
{
	Suite *s = suite_create("net_user_config");
	TCase *bad;

	unit_tcase(s, "accepted", NULL, NULL,
		   UNIT_TESTS(test_user_plain, test_user_hostfwd, test_user_limits, test_tap_ip,
			      test_user_prefix_is_a_tap));
	bad = unit_tcase(s, "rejected", NULL, NULL, UNIT_TESTS(NULL));
	tcase_add_loop_test(bad, test_bad, 0, sizeof(nu_bad) / sizeof(nu_bad[0]));
	return s;
}

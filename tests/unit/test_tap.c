/*
 * The tap backend.  Argument checks and fd wrapping run anywhere; opening
 * real taps runs only as root, inside a private network namespace entered
 * by the forked test process, so the host's interfaces are never touched.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

#include "devices/net/tap.h"
#include "helpers.h"

static char err[256];

START_TEST(rejects_bad_names)
{
	struct tap tap;

	ck_assert_int_eq(tap_open(&tap, "", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_eq(tap_open(&tap, "a-name-much-too-long-for-linux", 0, err, sizeof(err)),
			 -ENAMETOOLONG);
	ck_assert_ptr_nonnull(strstr(err, "longer than 15"));
	ck_assert_int_eq(tap.fd, -1);
}
END_TEST

START_TEST(wrapped_fd_reads_and_writes_frames)
{
	struct tap tap;
	int sv[2];
	char buf[64];
	struct iovec iov[2] = {{"abc", 3}, {"defg", 4}};

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_NONBLOCK, 0, sv), 0);
	tap_init_fd(&tap, sv[0], "sock", false);
	ck_assert_str_eq(tap.ifname, "sock");
	ck_assert_int_eq(tap_read(&tap, buf, sizeof(buf)), -EAGAIN);
	ck_assert_int_eq(tap_write(&tap, "hello", 5), 5);
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 5);
	ck_assert_int_eq(tap_writev(&tap, iov, 2), 7);
	ck_assert_int_eq(read(sv[1], buf, sizeof(buf)), 7);
	ck_assert_mem_eq(buf, "abcdefg", 7);
	ck_assert_int_eq(write(sv[1], "xyz", 3), 3);
	ck_assert_int_eq(tap_read(&tap, buf, sizeof(buf)), 3);
	/* Offloads need the vnet header. */
	ck_assert_int_eq(tap_set_offload(&tap, TUN_F_CSUM), -EINVAL);
	ck_assert_int_eq(tap_set_vnet_hdr_size(&tap, 12), -EINVAL);
	close(sv[1]);
	ck_assert_int_eq(tap_read(&tap, buf, sizeof(buf)), 0); /* peer gone */
	tap_close(&tap);
	ck_assert_int_eq(tap.fd, -1);
	tap_close(&tap); /* idempotent */
}
END_TEST

/* False (and the test returns) when not root or no tun device. */
static bool private_netns(void)
{
	if (geteuid() != 0 || access("/dev/net/tun", R_OK | W_OK) != 0)
		return false;
	/* Check forks each test, so only this child changes namespace. */
	return unshare(CLONE_NEWNET) == 0;
}

START_TEST(create_attach_busy_and_not_a_tap)
{
	struct tap a, b;
	int fl;

	if (!private_netns())
		return;
	ck_assert_int_eq(tap_open(&a, "mvtest0", 0, err, sizeof(err)), 0);
	ck_assert(a.created);
	ck_assert_str_eq(a.ifname, "mvtest0");
	fl = fcntl(a.fd, F_GETFL);
	ck_assert(fl & O_NONBLOCK);
	/* Nothing to read: never blocks. */
	ck_assert_int_eq(tap_read(&a, err, sizeof(err)), -EAGAIN);

	/* A second open of the same (single-queue) tap is busy. */
	ck_assert_int_eq(tap_open(&b, "mvtest0", 0, err, sizeof(err)), -EBUSY);
	ck_assert_ptr_nonnull(strstr(err, "busy"));

	/* Make it persistent, detach, and attach again: "attached", not "created". */
	ck_assert_int_eq(ioctl(a.fd, TUNSETPERSIST, 1), 0);
	tap_close(&a);
	ck_assert_int_eq(tap_open(&b, "mvtest0", TAP_VNET_HDR, err, sizeof(err)), 0);
	ck_assert(!b.created);
	ck_assert(b.vnet_hdr);
	ck_assert_int_eq(tap_set_vnet_hdr_size(&b, 12), 0);
	ck_assert_int_eq(tap_set_offload(&b, TUN_F_CSUM | TUN_F_TSO4 | TUN_F_TSO6), 0);
	ck_assert_int_eq(tap_set_offload(&b, 0), 0);
	ck_assert_int_eq(ioctl(b.fd, TUNSETPERSIST, 0), 0);
	tap_close(&b);

	/* "lo" exists but is not a tap. */
	ck_assert_int_eq(tap_open(&b, "lo", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a tap"));
}
END_TEST

Suite *tap_suite(void)
{
	return unit_suite("tap", NULL, NULL,
			  UNIT_TESTS(rejects_bad_names, wrapped_fd_reads_and_writes_frames,
				     create_attach_busy_and_not_a_tap));
}

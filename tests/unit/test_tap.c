/*
 * The tap backend, single- and multi-queue.  Argument checks and fd wrapping
 * run anywhere; opening real taps runs only as root, inside a private network namespace entered
 * by the forked test process, so the host's interfaces are never touched.
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <linux/if_tun.h>
#include <sched.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/resource.h>
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

START_TEST(multi_queue_counts_checked)
{
	struct tap q[2];

	ck_assert_int_eq(tap_open_queues(q, 0, "mvmq0", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "0 queues (1 to 256)"));
	ck_assert_int_eq(tap_open_queues(q, 2, "", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "empty"));
	ck_assert_int_eq(q[0].fd, -1);
	ck_assert_int_eq(q[1].fd, -1);
	ck_assert_int_eq(
	    tap_open_queues(q, 2, "a-name-much-too-long-for-linux", 0, err, sizeof(err)),
	    -ENAMETOOLONG);
}
END_TEST

/* The interface's tun flags, as any of its queues sees them. */
static short tap_flags(const struct tap *t)
{
	struct ifreq ifr;

	memset(&ifr, 0, sizeof(ifr));
	ck_assert_int_eq(ioctl(t->fd, TUNGETIFF, &ifr), 0);
	return ifr.ifr_flags;
}

START_TEST(multi_queue_create_and_attach)
{
	struct tap q[4], more[2], single;
	int hdr = 0;

	if (!private_netns())
		return;
	ck_assert_int_eq(tap_open_queues(q, 4, "mvmq0", TAP_VNET_HDR, err, sizeof(err)), 0);
	for (unsigned int i = 0; i < 4; i++) {
		ck_assert_int_ge(q[i].fd, 0);
		for (unsigned int j = 0; j < i; j++)
			ck_assert_int_ne(q[i].fd, q[j].fd);
		ck_assert(fcntl(q[i].fd, F_GETFL) & O_NONBLOCK);
		ck_assert_str_eq(q[i].ifname, "mvmq0");
		ck_assert(q[i].created);
		ck_assert(q[i].vnet_hdr);
		ck_assert(tap_flags(&q[i]) & IFF_MULTI_QUEUE);
		ck_assert(tap_flags(&q[i]) & IFF_VNET_HDR);
		ck_assert_int_eq(tap_read(&q[i], err, sizeof(err)), -EAGAIN);
	}
	/* The header size belongs to the interface: set on one queue, seen on another. */
	ck_assert_int_eq(tap_set_vnet_hdr_size(&q[0], 12), 0);
	ck_assert_int_eq(ioctl(q[3].fd, TUNGETVNETHDRSZ, &hdr), 0);
	ck_assert_int_eq(hdr, 12);
	ck_assert_int_eq(tap_set_offload(&q[2], TUN_F_CSUM), 0);

	/* Queues leave the rotation and come back (the kernel refuses a repeat). */
	ck_assert_int_eq(tap_set_queue_enabled(&q[1], true), -EINVAL); /* attached already */
	ck_assert_int_eq(tap_set_queue_enabled(&q[1], false), 0);
	ck_assert_int_eq(tap_set_queue_enabled(&q[1], false), -EINVAL);
	ck_assert_int_eq(tap_set_queue_enabled(&q[3], false), 0);
	ck_assert_int_eq(tap_read(&q[1], err, sizeof(err)), -EAGAIN); /* the fd stays usable */
	ck_assert_int_eq(tap_set_queue_enabled(&q[1], true), 0);
	ck_assert_int_eq(tap_set_queue_enabled(&q[3], true), 0);
	ck_assert_int_eq(tap_set_queue_enabled(&q[3], true), -EINVAL);

	/* A single-queue open of a multi-queue tap is refused, and says why. */
	ck_assert_int_eq(tap_open(&single, "mvmq0", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "multi-queue"));
	/* More queues may join (the kernel does not refuse them). */
	ck_assert_int_eq(tap_open_queues(more, 2, "mvmq0", TAP_VNET_HDR, err, sizeof(err)), 0);
	ck_assert(!more[0].created && !more[1].created);
	/* The interface lives until its last queue closes. */
	tap_close_queues(q, 4);
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_int_eq(q[i].fd, -1);
	ck_assert_uint_ne(if_nametoindex("mvmq0"), 0);
	tap_close_queues(more, 2);
	ck_assert_uint_eq(if_nametoindex("mvmq0"), 0);

	/* queues=1 is the plain single-queue tap. */
	ck_assert_int_eq(tap_open_queues(q, 1, "mvmq1", 0, err, sizeof(err)), 0);
	ck_assert(!(tap_flags(&q[0]) & IFF_MULTI_QUEUE));
	ck_assert_int_eq(tap_open(&single, "mvmq1", 0, err, sizeof(err)), -EBUSY);
	ck_assert_int_eq(tap_set_queue_enabled(&q[0], false), -EINVAL);
	tap_close_queues(q, 1);
}
END_TEST

START_TEST(multi_queue_refuses_single_queue_taps)
{
	struct tap a, q[2];

	if (!private_netns())
		return;
	/* A persistent tap created without multi_queue, as `ip tuntap add` makes it. */
	ck_assert_int_eq(tap_open(&a, "mvsq0", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(ioctl(a.fd, TUNSETPERSIST, 1), 0);
	tap_close(&a);
	ck_assert_int_eq(tap_open_queues(q, 2, "mvsq0", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "tap mvsq0: the interface exists but is not a "
					  "multi-queue tap"));
	ck_assert_ptr_nonnull(strstr(err, "ip tuntap add dev mvsq0 mode tap multi_queue"));
	ck_assert_int_eq(q[0].fd, -1);
	ck_assert_int_eq(q[1].fd, -1);
	/* Still usable as the single-queue tap it is. */
	ck_assert_int_eq(tap_open(&a, "mvsq0", 0, err, sizeof(err)), 0);
	ck_assert_int_eq(ioctl(a.fd, TUNSETPERSIST, 0), 0);
	tap_close(&a);
	/* Not a tap at all. */
	ck_assert_int_eq(tap_open_queues(q, 2, "lo", 0, err, sizeof(err)), -EINVAL);
	ck_assert_ptr_nonnull(strstr(err, "not a multi-queue tap"));
}
END_TEST

/* A queue that cannot be opened closes those opened before it: the tap minivmm created goes. */
START_TEST(multi_queue_failure_leaves_nothing)
{
	struct rlimit old, low;
	struct tap q[4];
	int first_free;

	if (!private_netns())
		return;
	first_free = dup(0);
	ck_assert_int_ge(first_free, 0);
	close(first_free);
	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)first_free + 2; /* room for two queues at most */
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ck_assert_int_eq(tap_open_queues(q, 4, "mvmq2", 0, err, sizeof(err)), -EMFILE);
	ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	ck_assert_ptr_nonnull(strstr(err, "cannot open /dev/net/tun"));
	for (unsigned int i = 0; i < 4; i++)
		ck_assert_int_eq(q[i].fd, -1);
	ck_assert_uint_eq(if_nametoindex("mvmq2"), 0);
	ck_assert_int_eq(dup(0), first_free); /* no fd leaked */
}
END_TEST

Suite *tap_suite(void)
{
	return unit_suite("tap", NULL, NULL,
			  UNIT_TESTS(rejects_bad_names, wrapped_fd_reads_and_writes_frames,
				     create_attach_busy_and_not_a_tap, multi_queue_counts_checked,
				     multi_queue_create_and_attach,
				     multi_queue_refuses_single_queue_taps,
				     multi_queue_failure_leaves_nothing));
}

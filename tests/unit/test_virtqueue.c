/* Split virtqueue: layout checks, chain walking, every malformed chain,
 * used ring publication and both notification-suppression schemes. */
#include <check.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "fake_vm.h"
#include "helpers.h"
#include "virtio/virtqueue.h"
#include "virtq_driver.h"

#define RAM	 (1u << 20)
#define RINGS	 0x10000
#define BUF	 0x40000
#define IND	 0x80000
#define F_NEXT	 VIRTQ_DESC_F_NEXT
#define F_WRITE	 VIRTQ_DESC_F_WRITE
#define F_IND	 VIRTQ_DESC_F_INDIRECT
#define FEAT_IND (1ULL << VIRTIO_F_INDIRECT_DESC)
#define FEAT_EVT (1ULL << VIRTIO_F_EVENT_IDX)

static struct vm *vm;
static struct tdrv drv;
static struct virtq vq;
static struct virtq_elem elem;

/* The driver lays out fresh rings and the device enables the queue on them. */
static void enable_fresh_rings(uint16_t size, uint64_t features)
{
	tdrv_init(&drv, &vm->mem, size, RINGS);
	tdrv_vq(&drv, &vq);
	ck_assert_int_eq(virtq_enable(&vq, &vm->mem, features), 0);
}

static void setup_size(uint16_t size, uint64_t features)
{
	vm = fake_vm_create(RAM);
	enable_fresh_rings(size, features);
}

static void setup(void)
{
	setup_size(8, FEAT_IND);
}

static void teardown(void)
{
	fake_vm_destroy(vm);
}

/* Starts the fixture again with a queue of another size or feature set. */
static void restart_with(uint16_t size, uint64_t features)
{
	teardown();
	setup_size(size, features);
}

static uint8_t *ram(uint64_t gpa)
{
	return guest_mem_ptr(&vm->mem, gpa, 1);
}

static void expect_broken(const char *what)
{
	ck_assert_int_eq(virtq_pop(&vq, &elem), -EINVAL);
	ck_assert_msg(vq.broken, "%s: queue not broken", what);
	ck_assert_ptr_nonnull(vq.error);
	/* Broken stays broken, and nothing else is returned. */
	ck_assert_int_eq(virtq_pop(&vq, &elem), -EINVAL);
	ck_assert(!virtq_has_avail(&vq));
}

START_TEST(enable_checks_layout)
{
	struct virtq q;

	vm = fake_vm_create(RAM);
	tdrv_init(&drv, &vm->mem, 8, RINGS);
	const uint16_t bad_sizes[] = {0, 3, 12, 512};
	for (unsigned int i = 0; i < sizeof(bad_sizes) / sizeof(bad_sizes[0]); i++) {
		tdrv_vq(&drv, &q);
		q.size = bad_sizes[i];
		ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
		ck_assert(!q.ready);
	}
	tdrv_vq(&drv, &q);
	q.desc_gpa += 8; /* descriptors need 16-byte alignment */
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
	tdrv_vq(&drv, &q);
	q.avail_gpa += 1;
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
	tdrv_vq(&drv, &q);
	q.used_gpa += 2;
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
	tdrv_vq(&drv, &q);
	q.used_gpa = RAM - 8; /* used ring runs past the end of RAM */
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
	tdrv_vq(&drv, &q);
	q.desc_gpa = 0xfffffffffffffff0ULL;
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, 0), -EINVAL);
	ck_assert(!q.ready);
	tdrv_vq(&drv, &q);
	ck_assert_int_eq(virtq_enable(&q, &vm->mem, FEAT_EVT), 0);
	ck_assert(q.ready && q.event_idx && !q.indirect);
	ck_assert_int_eq(virtq_pop(&q, &elem), 0);
	/* A queue that is not ready yields nothing. */
	virtq_reset(&q);
	ck_assert_int_eq(virtq_pop(&q, &elem), -EINVAL);
	fake_vm_destroy(vm);
}
END_TEST

START_TEST(direct_chain)
{
	memset(ram(BUF), 0xab, 16);
	tdrv_desc(&drv, 3, BUF, 16, F_NEXT, 5);
	tdrv_desc(&drv, 5, BUF + 0x100, 512, F_NEXT | F_WRITE, 1);
	tdrv_desc(&drv, 1, BUF + 0x400, 1, F_WRITE, 0);
	tdrv_post(&drv, 3);
	ck_assert(virtq_has_avail(&vq));
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 3);
	ck_assert_uint_eq(elem.nr_out, 1);
	ck_assert_uint_eq(elem.nr_in, 2);
	ck_assert_uint_eq(elem.out_bytes, 16);
	ck_assert_uint_eq(elem.in_bytes, 513);
	ck_assert_ptr_eq(elem.iov[0].iov_base, ram(BUF));
	ck_assert_ptr_eq(elem.iov[1].iov_base, ram(BUF + 0x100));
	ck_assert_uint_eq(elem.iov[2].iov_len, 1);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 0);
	ck_assert(!virtq_has_avail(&vq));
}
END_TEST

START_TEST(device_breaks_the_queue)
{
	char long_reason[300];

	tdrv_desc(&drv, 0, BUF, 16, 0, 0);
	tdrv_post(&drv, 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_break(&vq, "request without a writable status byte");
	ck_assert_str_eq(vq.error, "request without a writable status byte");
	expect_broken("virtq_break");
	/* Kicks cannot be asked for on a broken queue either. */
	ck_assert(!virtq_enable_notify(&vq));
	/* A long reason is cut to fit; enabling again clears the break. */
	memset(long_reason, 'x', sizeof(long_reason) - 1);
	long_reason[sizeof(long_reason) - 1] = '\0';
	virtq_break(&vq, long_reason);
	ck_assert_uint_eq(strlen(vq.error), sizeof(vq.errbuf) - 1);
	enable_fresh_rings(8, 0);
	ck_assert(!vq.broken);
	ck_assert_ptr_null(vq.error);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 0);
}
END_TEST

START_TEST(zero_length_buffers_are_skipped)
{
	tdrv_desc(&drv, 0, BUF, 0, F_NEXT, 1);
	tdrv_desc(&drv, 1, BUF, 4, F_WRITE, 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.nr_out, 0);
	ck_assert_uint_eq(elem.nr_in, 1);
}
END_TEST

START_TEST(chain_of_full_queue_length)
{
	for (uint16_t i = 0; i < 8; i++)
		tdrv_desc(&drv, i, BUF + i * 16, 16, i < 7 ? F_NEXT : 0, i + 1);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.nr_out, 8);
}
END_TEST

START_TEST(loop_is_rejected)
{
	tdrv_desc(&drv, 0, BUF, 16, F_NEXT, 1);
	tdrv_desc(&drv, 1, BUF, 16, F_NEXT, 0);
	tdrv_post(&drv, 0);
	expect_broken("loop");
}
END_TEST

START_TEST(self_loop_is_rejected)
{
	tdrv_desc(&drv, 2, BUF, 16, F_NEXT | F_WRITE, 2);
	tdrv_post(&drv, 2);
	expect_broken("self loop");
}
END_TEST

START_TEST(head_out_of_range)
{
	tdrv_post(&drv, 8);
	expect_broken("head");
}
END_TEST

START_TEST(next_out_of_range)
{
	tdrv_desc(&drv, 0, BUF, 16, F_NEXT, 0xffff);
	tdrv_post(&drv, 0);
	expect_broken("next");
}
END_TEST

START_TEST(avail_idx_jump)
{
	tdrv_desc(&drv, 0, BUF, 16, 0, 0);
	tdrv_set_avail_idx(&drv, 9); /* 9 new entries in an 8-entry ring */
	expect_broken("avail idx");
}
END_TEST

START_TEST(buffer_outside_ram)
{
	const struct {
		uint64_t addr;
		uint32_t len;
	} bad[] = {
	    {RAM, 1},			    /* just past the end */
	    {RAM - 16, 17},		    /* straddles the end */
	    {0xffffffffffffff00ULL, 0x200}, /* wraps around 2^64 */
	    {0, 0xffffffff},		    /* huge length */
	    {0xd0000000ULL, 4},		    /* MMIO, not RAM */
	};

	for (unsigned int i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		teardown();
		setup();
		tdrv_desc(&drv, 0, BUF, 16, F_NEXT, 1);
		tdrv_desc(&drv, 1, bad[i].addr, bad[i].len, F_WRITE, 0);
		tdrv_post(&drv, 0);
		expect_broken("outside RAM");
	}
}
END_TEST

START_TEST(readable_after_writable)
{
	tdrv_desc(&drv, 0, BUF, 16, F_WRITE | F_NEXT, 1);
	tdrv_desc(&drv, 1, BUF + 16, 16, 0, 0);
	tdrv_post(&drv, 0);
	expect_broken("order");
}
END_TEST

START_TEST(indirect_table)
{
	tdrv_desc_at(&drv, IND, 0, BUF, 16, F_NEXT, 2);
	tdrv_desc_at(&drv, IND, 2, BUF + 0x200, 4096, F_NEXT | F_WRITE, 1);
	tdrv_desc_at(&drv, IND, 1, BUF + 0x2000, 1, F_WRITE, 0);
	tdrv_desc(&drv, 4, IND, 3 * 16, F_IND, 0);
	tdrv_post(&drv, 4);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 4);
	ck_assert_uint_eq(elem.nr_out, 1);
	ck_assert_uint_eq(elem.nr_in, 2);
	ck_assert_uint_eq(elem.in_bytes, 4097);
	ck_assert_ptr_eq(elem.iov[1].iov_base, ram(BUF + 0x200));
}
END_TEST

START_TEST(indirect_table_longer_than_queue)
{
	/* An indirect table may hold more entries than the ring (up to the
	 * device's maximum chain length). */
	for (uint16_t i = 0; i < 32; i++)
		tdrv_desc_at(&drv, IND, i, BUF + i * 16, 16, i < 31 ? F_NEXT : F_WRITE, i + 1);
	tdrv_desc(&drv, 0, IND, 32 * 16, F_IND, 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.nr_out + elem.nr_in, 32);
}
END_TEST

static void post_indirect(uint64_t table, uint32_t len, uint16_t flags)
{
	tdrv_desc(&drv, 0, table, len, F_IND | flags, 1);
	tdrv_post(&drv, 0);
}

START_TEST(indirect_without_feature)
{
	restart_with(8, 0);
	tdrv_desc_at(&drv, IND, 0, BUF, 16, 0, 0);
	post_indirect(IND, 16, 0);
	expect_broken("no feature");
}
END_TEST

START_TEST(indirect_bad_length)
{
	const uint32_t lens[] = {0, 8, 24, (VIRTQ_MAX_SIZE + 1) * 16, 0xfffffff0};

	for (unsigned int i = 0; i < sizeof(lens) / sizeof(lens[0]); i++) {
		teardown();
		setup();
		post_indirect(IND, lens[i], 0);
		expect_broken("indirect length");
	}
}
END_TEST

START_TEST(indirect_with_next)
{
	tdrv_desc_at(&drv, IND, 0, BUF, 16, 0, 0);
	post_indirect(IND, 16, F_NEXT);
	expect_broken("indirect+next");
}
END_TEST

START_TEST(indirect_outside_ram)
{
	post_indirect(RAM - 16, 32, 0);
	expect_broken("indirect outside");
}
END_TEST

START_TEST(indirect_nested)
{
	tdrv_desc_at(&drv, IND, 0, IND + 0x100, 16, F_IND, 0);
	post_indirect(IND, 16, 0);
	expect_broken("nested");
}
END_TEST

START_TEST(indirect_loop)
{
	tdrv_desc_at(&drv, IND, 0, BUF, 16, F_NEXT, 1);
	tdrv_desc_at(&drv, IND, 1, BUF, 16, F_NEXT, 0);
	post_indirect(IND, 32, 0);
	expect_broken("indirect loop");
}
END_TEST

START_TEST(indirect_next_out_of_range)
{
	tdrv_desc_at(&drv, IND, 0, BUF, 16, F_NEXT, 2);
	tdrv_desc_at(&drv, IND, 1, BUF, 16, 0, 0);
	post_indirect(IND, 32, 0);
	expect_broken("indirect next");
}
END_TEST

START_TEST(indirect_inside_chain)
{
	tdrv_desc_at(&drv, IND, 0, BUF, 16, 0, 0);
	tdrv_desc(&drv, 0, BUF, 16, F_NEXT, 1);
	tdrv_desc(&drv, 1, IND, 16, F_IND, 0);
	tdrv_post(&drv, 0);
	expect_broken("indirect in chain");
}
END_TEST

START_TEST(indirect_buffer_outside_ram)
{
	tdrv_desc_at(&drv, IND, 0, RAM - 1, 2, 0, 0);
	post_indirect(IND, 16, 0);
	expect_broken("indirect buffer");
}
END_TEST

/*
 * A head the device popped and has not handed back through the used ring
 * is the device's: the driver may not make it available again.  The second
 * offer breaks the queue like any other malformed ring.
 */
START_TEST(head_in_flight_is_rejected)
{
	tdrv_desc(&drv, 2, BUF, 16, F_WRITE, 0);
	tdrv_desc(&drv, 3, BUF + 16, 16, F_WRITE, 0);
	tdrv_post(&drv, 2);
	tdrv_post(&drv, 3);
	tdrv_post(&drv, 2);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 2);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 3);
	expect_broken("head in flight");
	ck_assert_ptr_nonnull(strstr(vq.error, "in flight"));
}
END_TEST

/* Once pushed to the used ring, the head is the driver's again. */
START_TEST(head_may_be_posted_again_after_push)
{
	tdrv_desc(&drv, 5, BUF, 16, F_WRITE, 0);
	for (unsigned int round = 0; round < 3; round++) {
		tdrv_post(&drv, 5);
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
		ck_assert_uint_eq(elem.head, 5);
		virtq_push(&vq, elem.head, 1);
	}
	/* Posted again before the push was even published: still fine, the
	 * device has handed it back. */
	tdrv_post(&drv, 5);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert(virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 3);
	ck_assert(!vq.broken);
}
END_TEST

/* Every head of a full ring can be in flight at once, each exactly once. */
START_TEST(whole_ring_in_flight)
{
	for (uint16_t i = 0; i < 8; i++) {
		tdrv_desc(&drv, i, BUF + i * 16, 16, F_WRITE, 0);
		tdrv_post(&drv, (uint16_t)(7 - i));
	}
	for (uint16_t i = 0; i < 8; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
		ck_assert_uint_eq(elem.head, 7 - i);
	}
	ck_assert_int_eq(virtq_pop(&vq, &elem), 0);
	/* Hand back one in the middle; only that one may come again. */
	virtq_push(&vq, 4, 1);
	tdrv_post(&drv, 4);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 4);
	tdrv_post(&drv, 6);
	expect_broken("head 6 still in flight");
}
END_TEST

/* Device reset (and a new enable) forgets what was in flight. */
START_TEST(reset_clears_heads_in_flight)
{
	tdrv_desc(&drv, 1, BUF, 16, F_WRITE, 0);
	tdrv_post(&drv, 1);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_reset(&vq);
	enable_fresh_rings(8, FEAT_IND);
	tdrv_desc(&drv, 1, BUF, 16, F_WRITE, 0);
	tdrv_post(&drv, 1);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	ck_assert_uint_eq(elem.head, 1);
	/* A queue broken with heads in flight starts clean when enabled again. */
	tdrv_post(&drv, 1);
	expect_broken("head 1 in flight");
	enable_fresh_rings(8, FEAT_IND);
	tdrv_desc(&drv, 1, BUF, 16, F_WRITE, 0);
	tdrv_post(&drv, 1);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
}
END_TEST

START_TEST(used_ring_and_no_interrupt_flag)
{
	tdrv_desc(&drv, 0, BUF, 16, F_WRITE, 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_push(&vq, elem.head, 7);
	/* Not visible before the flush. */
	ck_assert_uint_eq(tdrv_used_idx(&drv), 0);
	ck_assert(virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 1);
	ck_assert_uint_eq(tdrv_used_elem(&drv, 0).id, 0);
	ck_assert_uint_eq(tdrv_used_elem(&drv, 0).len, 7);
	/* Nothing new: no interrupt. */
	ck_assert(!virtq_flush_used(&vq));
	tdrv_set_avail_flags(&drv, VIRTQ_AVAIL_F_NO_INTERRUPT);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_push(&vq, elem.head, 1);
	ck_assert(!virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 2);
}
END_TEST

/* A flush with nothing pushed, even the queue's first, wants no interrupt. */
START_TEST(first_flush_with_nothing_used)
{
	ck_assert(!virtq_flush_used(&vq));
	restart_with(8, FEAT_EVT);
	ck_assert(!virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 0);
	/* The first real completion still interrupts. */
	tdrv_desc(&drv, 0, BUF, 16, F_WRITE, 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_push(&vq, elem.head, 1);
	ck_assert(virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 1);
}
END_TEST

START_TEST(notify_flag_without_event_idx)
{
	virtq_disable_notify(&vq);
	ck_assert_uint_eq(tdrv_used_flags(&drv), VIRTQ_USED_F_NO_NOTIFY);
	ck_assert(!virtq_enable_notify(&vq));
	ck_assert_uint_eq(tdrv_used_flags(&drv), 0);
	virtq_disable_notify(&vq);
	tdrv_desc(&drv, 0, BUF, 16, 0, 0);
	tdrv_post(&drv, 0);
	/* A chain that arrived while kicks were off is reported. */
	ck_assert(virtq_enable_notify(&vq));
}
END_TEST

START_TEST(event_idx_avail_event)
{
	restart_with(8, FEAT_EVT);
	/* Three distinct heads: none is handed back, so none may come twice. */
	for (uint16_t i = 0; i < 3; i++) {
		tdrv_desc(&drv, i, BUF, 16, 0, 0);
		tdrv_post(&drv, i);
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	}
	virtq_disable_notify(&vq);
	ck_assert_uint_eq(tdrv_used_flags(&drv), 0); /* EVENT_IDX never uses the flag */
	ck_assert(!virtq_enable_notify(&vq));
	ck_assert_uint_eq(tdrv_avail_event(&drv), 3);
}
END_TEST

/* The driver's side of EVENT_IDX (the spec's vring_need_event()). */
static bool vq_test_driver_must_kick(uint16_t event, uint16_t new_idx, uint16_t old_idx)
{
	return (uint16_t)(new_idx - event - 1) < (uint16_t)(new_idx - old_idx);
}

/*
 * A device that ran dry asks for a kick once `batch` chains are back, not at
 * the first: avail_event batch - 1 past the next chain to pop, and the
 * driver following vring_need_event() kicks exactly when the batch-th chain
 * arrives.  Until then the device is told to wait (false), from then on to
 * keep processing (true).
 */
START_TEST(event_idx_avail_event_batch)
{
	uint16_t old;

	restart_with(16, FEAT_EVT);
	for (uint16_t i = 0; i < 3; i++) {
		tdrv_desc(&drv, i, BUF, 16, F_WRITE, 0);
		tdrv_post(&drv, i);
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	}
	ck_assert_uint_eq(virtq_avail_count(&vq), 0);
	ck_assert(!virtq_enable_notify_batch(&vq, 4));
	ck_assert_uint_eq(tdrv_avail_event(&drv), 3 + 4 - 1);
	for (uint16_t i = 3; i < 7; i++) {
		old = drv.avail_idx;
		tdrv_desc(&drv, i, BUF, 16, F_WRITE, 0);
		tdrv_post(&drv, i);
		ck_assert_uint_eq(virtq_avail_count(&vq), i - 2);
		/* No kick for the first three; the fourth kicks. */
		ck_assert_int_eq(
		    vq_test_driver_must_kick(tdrv_avail_event(&drv), drv.avail_idx, old), i == 6);
		ck_assert_int_eq(virtq_enable_notify_batch(&vq, 4), i == 6);
	}
	/* The plain request asks for the very next chain, and sees the four. */
	ck_assert(virtq_enable_notify(&vq));
	ck_assert_uint_eq(tdrv_avail_event(&drv), 3);
	/* A batch is at most the ring (a driver cannot post more), at least 1. */
	ck_assert(!virtq_enable_notify_batch(&vq, 1000));
	ck_assert_uint_eq(tdrv_avail_event(&drv), (uint16_t)(3 + 16 - 1));
	ck_assert(virtq_enable_notify_batch(&vq, 0));
	ck_assert_uint_eq(tdrv_avail_event(&drv), 3);
}
END_TEST

/* Without EVENT_IDX there is only the flag: the batch is 1, any chain counts. */
START_TEST(notify_batch_without_event_idx)
{
	virtq_disable_notify(&vq);
	ck_assert(!virtq_enable_notify_batch(&vq, 4));
	ck_assert_uint_eq(tdrv_used_flags(&drv), 0);
	virtq_disable_notify(&vq);
	tdrv_desc(&drv, 0, BUF, 16, 0, 0);
	tdrv_post(&drv, 0);
	ck_assert(virtq_enable_notify_batch(&vq, 4));
	ck_assert_uint_eq(tdrv_used_flags(&drv), 0);
	ck_assert_uint_eq(virtq_avail_count(&vq), 1);
}
END_TEST

/*
 * Drive the 16-bit indices across the wrap at 65536 and check that the
 * used_event comparison follows the spec's vring_need_event() across it.
 */
START_TEST(event_idx_wraparound)
{
	unsigned int interrupts = 0;

	restart_with(4, FEAT_EVT);
	tdrv_desc(&drv, 1, BUF, 16, F_WRITE, 0);
	for (unsigned int i = 0; i < 70000; i++) {
		uint16_t used_before = tdrv_used_idx(&drv);

		/* Ask for an interrupt only when used idx reaches a
		 * multiple of 1000 (mod 65536). */
		tdrv_set_used_event(&drv, (uint16_t)((used_before / 1000 + 1) * 1000 - 1));
		tdrv_post(&drv, 1);
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
		ck_assert_uint_eq(elem.head, 1);
		virtq_push(&vq, elem.head, 1);
		if (virtq_flush_used(&vq))
			interrupts++;
	}
	ck_assert_uint_eq(tdrv_used_idx(&drv), (uint16_t)70000);
	ck_assert_uint_eq(vq.last_avail_idx, (uint16_t)70000);
	/* The first flush always interrupts; then one per 1000, with the
	 * 65536 wrap producing one extra boundary (at 65000 and at 0). */
	ck_assert_uint_ge(interrupts, 70);
	ck_assert_uint_le(interrupts, 72);
}
END_TEST

START_TEST(event_idx_used_event_window)
{
	restart_with(8, FEAT_EVT);
	tdrv_desc(&drv, 0, BUF, 16, F_WRITE, 0);
	/* Start just below the wrap. */
	vq.last_avail_idx = vq.used_idx = vq.signalled_used = 65534;
	vq.signalled_used_valid = true;
	tdrv_set_avail_idx(&drv, 65534);
	tdrv_post(&drv, 0);
	tdrv_post(&drv, 0);
	ck_assert_uint_eq(drv.avail_idx, 0);
	for (int i = 0; i < 2; i++) {
		ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
		virtq_push(&vq, 0, 1);
	}
	tdrv_set_used_event(&drv, 65535); /* in [65534, 0): interrupt */
	ck_assert(virtq_flush_used(&vq));
	ck_assert_uint_eq(tdrv_used_idx(&drv), 0);
	tdrv_post(&drv, 0);
	ck_assert_int_eq(virtq_pop(&vq, &elem), 1);
	virtq_push(&vq, 0, 1);
	tdrv_set_used_event(&drv, 5); /* not in [0, 1): no interrupt */
	ck_assert(!virtq_flush_used(&vq));
}
END_TEST

Suite *virtqueue_suite(void)
{
	Suite *s = suite_create("virtqueue");

	unit_tcase(s, "layout", NULL, NULL, UNIT_TESTS(enable_checks_layout));
	unit_tcase(s, "chains", setup, teardown,
		   UNIT_TESTS(direct_chain, zero_length_buffers_are_skipped,
			      chain_of_full_queue_length, loop_is_rejected, self_loop_is_rejected,
			      head_out_of_range, next_out_of_range, avail_idx_jump,
			      buffer_outside_ram, readable_after_writable, indirect_table,
			      indirect_table_longer_than_queue, indirect_without_feature,
			      indirect_bad_length, indirect_with_next, indirect_outside_ram,
			      indirect_nested, indirect_loop, indirect_next_out_of_range,
			      indirect_inside_chain, indirect_buffer_outside_ram,
			      device_breaks_the_queue));
	unit_tcase(s, "in-flight", setup, teardown,
		   UNIT_TESTS(head_in_flight_is_rejected, head_may_be_posted_again_after_push,
			      whole_ring_in_flight, reset_clears_heads_in_flight));
	unit_tcase(s, "used-and-notify", setup, teardown,
		   UNIT_TESTS(used_ring_and_no_interrupt_flag, first_flush_with_nothing_used,
			      notify_flag_without_event_idx, event_idx_avail_event,
			      event_idx_avail_event_batch, notify_batch_without_event_idx,
			      event_idx_wraparound, event_idx_used_event_window));
	return s;
}

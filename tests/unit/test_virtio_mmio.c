/* virtio-mmio transport: placement, registers, the status state machine,
 * feature negotiation, queue setup, notifications, interrupts, reset, the
 * I/O thread it wires and runs (or several, for multi-queue), queue errors
 * and --stats. */
#include <check.h>
#include <errno.h>
#include <poll.h>
#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "arch/arch.h"
#include "fake_vm.h"
#include "helpers.h"
#include "util.h"
#include "virtio/mmio.h"
#include "mmio_driver.h"
#include "virtq_driver.h"

#define RAM	  (1u << 20)
#define FEAT_TEST (1ULL << 3)
#define V1	  (1ULL << VIRTIO_F_VERSION_1)

struct test_dev {
	struct virtio_device vdev;
	uint8_t config[12];
	int activations, resets, activate_result;
	bool refuse_features;
};

static struct vm *vm;
static struct test_dev td;

static bool t_features_ok(struct virtio_device *dev, uint64_t f)
{
	(void)f;
	return !((struct test_dev *)dev)->refuse_features;
}

static void t_config_write(struct virtio_device *dev, uint32_t off, const void *data, uint32_t len)
{
	memcpy(((struct test_dev *)dev)->config + off, data, len);
}

static int t_activate(struct virtio_device *dev)
{
	((struct test_dev *)dev)->activations++;
	return ((struct test_dev *)dev)->activate_result;
}

static void t_reset(struct virtio_device *dev)
{
	((struct test_dev *)dev)->resets++;
}

static const struct virtio_device_ops t_ops = {
    .features_ok = t_features_ok,
    .config_write = t_config_write,
    .activate = t_activate,
    .reset = t_reset,
};

static void init_dev(struct test_dev *d, const char *name)
{
	memset(d, 0, sizeof(*d));
	d->vdev.name = name;
	d->vdev.device_id = 42;
	d->vdev.device_features = FEAT_TEST | (1ULL << VIRTIO_F_EVENT_IDX);
	d->vdev.nr_queues = 2;
	d->vdev.queue_num_max = 16;
	d->vdev.config = d->config;
	d->vdev.config_size = sizeof(d->config);
	d->vdev.ops = &t_ops;
	for (unsigned int i = 0; i < sizeof(d->config); i++)
		d->config[i] = (uint8_t)(0x10 + i);
}

static uint32_t rd(uint64_t off)
{
	return tmmio_read(&td.vdev, off);
}

static void wr(uint64_t off, uint32_t v)
{
	tmmio_write(&td.vdev, off, v);
}

/* The fixture's device, "test0", on the transport of vm. */
static void init_test0(void)
{
	init_dev(&td, "test0");
	ck_assert_int_eq(virtio_mmio_init(&td.vdev, vm), 0);
}

static void setup(void)
{
	vm = fake_vm_create(RAM);
	init_test0();
}

static void teardown(void)
{
	virtio_mmio_destroy(&td.vdev);
	fake_vm_destroy(vm);
}

enum host_feature { HOST_IRQFD, HOST_IOEVENTFD };

/* Starts the fixture again on a host without feature: the transport asks
 * for it when the device is created. */
static void restart_without(enum host_feature feature)
{
	teardown();
	vm = fake_vm_create(RAM);
	if (feature == HOST_IRQFD)
		vm->has_irqfd = false;
	else
		fake_vm.ioeventfd_result = -ENOSYS;
	init_test0();
}

static void negotiate(uint64_t features)
{
	tmmio_negotiate(&td.vdev, features);
}

static void setup_queue(unsigned int q, const struct tdrv *d)
{
	tmmio_setup_queue(&td.vdev, q, d->size, d->desc, d->avail, d->used);
}

static const uint32_t LIVE = VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
			     VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_DRIVER_OK;

/* Negotiate features, set up queue 0 on d (queue 1 stays off), DRIVER_OK. */
static void go_live_with_queue(uint64_t features, struct tdrv *d)
{
	negotiate(features);
	tdrv_init(d, &vm->mem, 8, 0x10000);
	setup_queue(0, d);
	wr(VIRTIO_MMIO_STATUS, LIVE);
}

/* go_live_with_queue() with the test feature; Status must then read want. */
static void go_live_expect(uint32_t want)
{
	struct tdrv d;

	go_live_with_queue(V1 | FEAT_TEST, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), want);
}

static void go_live(void)
{
	go_live_expect(LIVE);
}

static uint64_t eventfd_count(int fd)
{
	struct pollfd p = {.fd = fd, .events = POLLIN};
	uint64_t v = 0;

	if (poll(&p, 1, 0) == 1)
		ck_assert_int_eq(read(fd, &v, sizeof(v)), 8);
	return v;
}

START_TEST(placement_and_cmdline)
{
	struct test_dev second;

	ck_assert_uint_eq(td.vdev.slot, 0);
	ck_assert_uint_eq(td.vdev.base, ARCH_VIRTIO_MMIO_BASE);
	ck_assert_uint_eq(td.vdev.irq, ARCH_VIRTIO_IRQ_BASE);
	ck_assert_str_eq(vm->cmdline, "virtio_mmio.device=4K@0xd0000000:16");
	/* One ioeventfd per queue, datamatch = queue index, on QueueNotify. */
	ck_assert_uint_eq(fake_vm.nr_ioeventfds, 2);
	for (unsigned int q = 0; q < 2; q++) {
		ck_assert_uint_eq(fake_vm.ioeventfds[q].addr,
				  ARCH_VIRTIO_MMIO_BASE + VIRTIO_MMIO_QUEUE_NOTIFY);
		ck_assert_uint_eq(fake_vm.ioeventfds[q].len, 4);
		ck_assert_uint_eq(fake_vm.ioeventfds[q].datamatch, q);
		ck_assert_int_eq(fake_vm.ioeventfds[q].fd, td.vdev.queues[q].kick_fd);
	}
	ck_assert(td.vdev.kick_via_ioeventfd);
	ck_assert_uint_eq(fake_vm.nr_irqfds, 1);
	ck_assert_uint_eq(fake_vm.irqfds[0].gsi, 16);
	ck_assert_int_eq(fake_vm.irqfds[0].resample_fd, -1);
	/* The bus routes the window to the device. */
	ck_assert_ptr_nonnull(bus_find(&vm->mmio, ARCH_VIRTIO_MMIO_BASE, 4));

	init_dev(&second, "test1");
	ck_assert_int_eq(virtio_mmio_init(&second.vdev, vm), 0);
	ck_assert_uint_eq(second.vdev.base, ARCH_VIRTIO_MMIO_BASE + ARCH_VIRTIO_MMIO_SIZE);
	ck_assert_uint_eq(second.vdev.irq, ARCH_VIRTIO_IRQ_BASE + 1);
	ck_assert_str_eq(vm->cmdline, "virtio_mmio.device=4K@0xd0000000:16 "
				      "virtio_mmio.device=4K@0xd0001000:17");
	virtio_mmio_destroy(&second.vdev);
}
END_TEST

START_TEST(slots_run_out)
{
	static struct test_dev many[ARCH_VIRTIO_MMIO_MAX];
	unsigned int i;

	for (i = 1; i < ARCH_VIRTIO_MMIO_MAX; i++) {
		init_dev(&many[i], "many");
		ck_assert_int_eq(virtio_mmio_init(&many[i].vdev, vm), 0);
	}
	init_dev(&many[0], "one-too-many");
	ck_assert_int_eq(virtio_mmio_init(&many[0].vdev, vm), -ENOSPC);
	for (i = 1; i < ARCH_VIRTIO_MMIO_MAX; i++)
		virtio_mmio_destroy(&many[i].vdev);
}
END_TEST

START_TEST(identification)
{
	ck_assert_uint_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), 0x74726976);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_VERSION), 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_ID), 42);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_VENDOR_ID), VIRTIO_MMIO_VENDOR);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_SHM_LEN_LOW), 0xffffffff);
	ck_assert_uint_eq(rd(0x0f0), 0); /* unknown register */
}
END_TEST

START_TEST(device_features)
{
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES),
			  (uint32_t)(FEAT_TEST | (1ULL << VIRTIO_F_EVENT_IDX)));
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 1); /* VERSION_1 */
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 0xffffffff);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES), 0);
}
END_TEST

START_TEST(negotiation_accepts_subset_with_version_1)
{
	negotiate(V1 | FEAT_TEST);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK,
			  VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(td.vdev.driver_features, V1 | FEAT_TEST);
	/* Features are frozen after FEATURES_OK. */
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 0);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 0);
	ck_assert_uint_eq(td.vdev.driver_features, V1 | FEAT_TEST);
}
END_TEST

START_TEST(negotiation_refuses_legacy)
{
	negotiate(FEAT_TEST);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

START_TEST(negotiation_refuses_unoffered_bits)
{
	negotiate(V1 | (1ULL << 7));
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

/*
 * A guest can ask for a refused step as often as it likes: minivmm logs the
 * first few as errors and stays quiet after (they are still counted).
 */
START_TEST(refusals_repeated_by_the_guest_log_a_few_lines)
{
	unsigned int lines;
	struct tdrv d;

	tdrv_init(&d, &vm->mem, 8, 0x10000);
	unit_stderr_capture();
	for (unsigned int i = 0; i < 100; i++) {
		wr(VIRTIO_MMIO_STATUS, 0);
		negotiate(V1 | (1ULL << 7)); /* unoffered feature */
		setup_queue(0, &d);	     /* QueueReady without FEATURES_OK */
		wr(VIRTIO_MMIO_STATUS, 0);
		negotiate(FEAT_TEST);				 /* no VERSION_1 */
		wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER_OK); /* a step back */
		wr(VIRTIO_MMIO_STATUS, 0);
		negotiate(V1);
		wr(VIRTIO_MMIO_QUEUE_NUM, 3); /* not a power of two */
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
	}
	/* The budget, and one line saying the rest go to debug level. */
	lines = unit_stderr_lines();
	ck_assert_uint_eq(lines, LOG_GUEST_ERRORS + 1);
	ck_assert_uint_ge(counter_get(&td.vdev.stat_status_refused), 100);
}
END_TEST

START_TEST(negotiation_refused_by_device)
{
	td.refuse_features = true;
	negotiate(V1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

START_TEST(features_before_driver_are_ignored)
{
	wr(VIRTIO_MMIO_DRIVER_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_DRIVER_FEATURES, 1);
	ck_assert_uint_eq(td.vdev.driver_features, 0);
	/* FEATURES_OK without DRIVER is not accepted either. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FEATURES_OK, 0);
}
END_TEST

START_TEST(queue_registers)
{
	struct tdrv d;

	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 16);
	wr(VIRTIO_MMIO_QUEUE_SEL, 2);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 1); /* nonexistent queue: ignored */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);

	tdrv_init(&d, &vm->mem, 8, 0x10000);
	/* Before FEATURES_OK a queue cannot be enabled. */
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	negotiate(V1);
	/* Bigger than QueueNumMax, not a power of two, ring outside RAM. */
	d.size = 32;
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	d.size = 6;
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	d.size = 8;
	d.used = RAM;
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	tdrv_init(&d, &vm->mem, 8, 0x10000);
	d.desc = 0x100000000ULL + 0x10000; /* high half matters */
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
	tdrv_init(&d, &vm->mem, 8, 0x10000);
	setup_queue(0, &d);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 1);
	ck_assert_uint_eq(td.vdev.queues[0].vq.size, 8);
	ck_assert_uint_eq(td.vdev.queues[0].vq.used_gpa, d.used);
	/* A ready queue's layout is frozen. */
	wr(VIRTIO_MMIO_QUEUE_NUM, 4);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x20000);
	ck_assert_uint_eq(td.vdev.queues[0].vq.size, 8);
	ck_assert_uint_eq(td.vdev.queues[0].vq.desc_gpa, 0x10000);
	/* ...until the driver turns it off (before DRIVER_OK). */
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
}
END_TEST

START_TEST(ring_address_halves)
{
	struct virtq *vq = &td.vdev.queues[1].vq;

	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x11111000);
	wr(VIRTIO_MMIO_QUEUE_DESC_HIGH, 0x1);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x22222000);
	wr(VIRTIO_MMIO_QUEUE_DRIVER_HIGH, 0x2);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_LOW, 0x33333000);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0x3);
	ck_assert_uint_eq(vq->desc_gpa, 0x111111000ULL);
	ck_assert_uint_eq(vq->avail_gpa, 0x222222000ULL);
	ck_assert_uint_eq(vq->used_gpa, 0x333333000ULL);
	/* Each half replaces only its own 32 bits. */
	wr(VIRTIO_MMIO_QUEUE_DRIVER_LOW, 0x44444000);
	wr(VIRTIO_MMIO_QUEUE_DEVICE_HIGH, 0x5);
	ck_assert_uint_eq(vq->desc_gpa, 0x111111000ULL);
	ck_assert_uint_eq(vq->avail_gpa, 0x244444000ULL);
	ck_assert_uint_eq(vq->used_gpa, 0x533333000ULL);
	ck_assert_uint_eq(td.vdev.queues[0].vq.desc_gpa, 0);
}
END_TEST

START_TEST(driver_ok_activates)
{
	negotiate(V1);
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_int_eq(td.activations, 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), LIVE);
	ck_assert(td.vdev.active);
	/* Writing the same status again does not re-activate. */
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_int_eq(td.activations, 1);
	/* Queue setup is refused while live. */
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_QUEUE_NUM, 8);
	ck_assert_uint_eq(td.vdev.queues[1].vq.size, 0);
	wr(VIRTIO_MMIO_QUEUE_READY, 0);
	ck_assert_uint_eq(td.resets, 0);
}
END_TEST

START_TEST(driver_ok_without_features_ok)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	ck_assert_int_eq(td.activations, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
}
END_TEST

START_TEST(activation_failure_needs_reset)
{
	td.activate_result = -EINVAL;
	negotiate(V1);
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_NEEDS_RESET,
			  VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS) & VIRTIO_MMIO_INT_CONFIG,
			  VIRTIO_MMIO_INT_CONFIG);
	/* Not active, so reset does not call the device's reset. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(td.resets, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
}
END_TEST

START_TEST(driver_cannot_set_needs_reset)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE);
	/* Clearing bits other than by writing 0 has no effect. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FAILED);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_FAILED, VIRTIO_STATUS_FAILED);
}
END_TEST

START_TEST(reset_returns_to_initial_state)
{
	go_live();
	virtio_mmio_signal_used(&td.vdev);
	wr(VIRTIO_MMIO_QUEUE_SEL, 1);
	wr(VIRTIO_MMIO_DEVICE_FEATURES_SEL, 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(td.resets, 1);
	ck_assert(!td.vdev.active);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(td.vdev.driver_features, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0); /* QueueSel back to 0 */
	ck_assert(!td.vdev.queues[0].vq.ready);
	ck_assert_uint_eq(td.vdev.queues[0].vq.desc_gpa, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_DEVICE_FEATURES),
			  (uint32_t)(FEAT_TEST | (1ULL << VIRTIO_F_EVENT_IDX)));
	/* And it can be brought up again. */
	go_live();
	ck_assert_int_eq(td.activations, 2);
	/* Destroy resets an active device once more. */
	virtio_mmio_destroy(&td.vdev);
	ck_assert_int_eq(td.resets, 2);
	init_test0();
}
END_TEST

START_TEST(reset_drops_pending_kicks)
{
	uint64_t one = 1;

	go_live();
	ck_assert_int_eq(write(td.vdev.queues[0].kick_fd, &one, 8), 8);
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[0].kick_fd), 0);
}
END_TEST

START_TEST(interrupts_via_irqfd)
{
	virtio_mmio_signal_used(&td.vdev);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(eventfd_count(td.vdev.call_fd), 1);
	virtio_mmio_config_changed(&td.vdev);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS),
			  VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_CONFIG_GENERATION), 1);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, 0xffffffff);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	ck_assert_uint_eq(fake_vm.irq_pulses[16], 0);
}
END_TEST

/* A back-end in another process writes the irqfd itself: VRING reads set while live. */
START_TEST(external_data_plane_reads_vring_while_live)
{
	td.vdev.data_plane_external = true;
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	go_live();
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	wr(VIRTIO_MMIO_INTERRUPT_ACK, VIRTIO_MMIO_INT_VRING);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
	virtio_mmio_config_changed(&td.vdev);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS),
			  VIRTIO_MMIO_INT_VRING | VIRTIO_MMIO_INT_CONFIG);
	/* After a reset nothing is pending. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
	/* An ordinary device reads VRING only when it signalled. */
	td.vdev.data_plane_external = false;
	go_live();
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), 0);
}
END_TEST

START_TEST(interrupts_without_irqfd)
{
	restart_without(HOST_IRQFD);
	ck_assert_int_eq(td.vdev.call_fd, -1);
	ck_assert_uint_eq(fake_vm.nr_irqfds, 0);
	virtio_mmio_signal_used(&td.vdev);
	ck_assert_uint_eq(fake_vm.irq_pulses[16], 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_VRING);
}
END_TEST

START_TEST(notify_with_ioeventfd_registered)
{
	/* A QueueNotify that still reaches the exit path (e.g. a value no
	 * datamatch covers) is forwarded for valid queues only. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[1].kick_fd), 1);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 7);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[0].kick_fd), 0);
	ck_assert_uint_eq(atomic_load(&td.vdev.stat_bad_accesses), 1);
}
END_TEST

START_TEST(notify_fallback_without_ioeventfd)
{
	restart_without(HOST_IOEVENTFD);
	ck_assert(!td.vdev.kick_via_ioeventfd);
	ck_assert_uint_eq(fake_vm.nr_ioeventfds, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 0);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[0].kick_fd), 2);
	ck_assert_uint_eq(atomic_load(&td.vdev.stat_notifies_on_exit_path), 2);
}
END_TEST

START_TEST(needs_reset_reported_once)
{
	go_live();
	virtio_mmio_set_needs_reset(&td.vdev, "test error");
	virtio_mmio_set_needs_reset(&td.vdev, "again");
	ck_assert(virtio_mmio_needs_reset(&td.vdev));
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), LIVE | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	ck_assert_uint_eq(eventfd_count(td.vdev.call_fd), 1);
	ck_assert_uint_eq(atomic_load(&td.vdev.stat_needs_reset), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert(!virtio_mmio_needs_reset(&td.vdev));
}
END_TEST

START_TEST(config_space)
{
	uint8_t b[8];
	uint16_t h;

	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 1, b, 1, false);
	ck_assert_uint_eq(b[0], 0x11);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 2, (uint8_t *)&h, 2, false);
	ck_assert_uint_eq(h, 0x1312);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 4, b, 8, false);
	ck_assert_uint_eq(b[7], 0x1b);
	/* Past the end (and straddling it) reads as zero. */
	memset(b, 0xee, sizeof(b));
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 8, b, 8, false);
	ck_assert_uint_eq(b[0], 0);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 0xe00, b, 4, false);
	ck_assert_uint_eq(b[3], 0);
	h = 0xbeef;
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 10, (uint8_t *)&h, 2, true);
	ck_assert_uint_eq(td.config[10], 0xef);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_CONFIG + 11, (uint8_t *)&h, 2, true);
	ck_assert_uint_eq(td.config[11], 0xbe); /* straddling write ignored */
}
END_TEST

START_TEST(bad_register_accesses)
{
	uint8_t b[8];
	uint16_t h = 0xffff;

	memset(b, 0xee, sizeof(b));
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_MAGIC_VALUE, b, 2, false);
	ck_assert_uint_eq(b[0], 0);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_MAGIC_VALUE + 1, b, 4, false);
	ck_assert_uint_eq(b[0], 0);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_STATUS, (uint8_t *)&h, 2, true);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	virtio_mmio_access(&td.vdev, VIRTIO_MMIO_STATUS, b, 8, false);
	wr(VIRTIO_MMIO_MAGIC_VALUE, 1); /* read-only */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_MAGIC_VALUE), VIRTIO_MMIO_MAGIC);
	ck_assert_uint_eq(atomic_load(&td.vdev.stat_bad_accesses), 5);
}
END_TEST

START_TEST(init_rejects_bad_devices)
{
	struct test_dev bad;

	init_dev(&bad, "bad");
	bad.vdev.nr_queues = 0;
	ck_assert_int_eq(virtio_mmio_init(&bad.vdev, vm), -EINVAL);
	init_dev(&bad, "bad");
	bad.vdev.nr_queues = VIRTIO_MMIO_MAX_QUEUES + 1;
	ck_assert_int_eq(virtio_mmio_init(&bad.vdev, vm), -EINVAL);
	init_dev(&bad, "bad");
	bad.vdev.queue_num_max = 12;
	ck_assert_int_eq(virtio_mmio_init(&bad.vdev, vm), -EINVAL);
	init_dev(&bad, "bad");
	bad.vdev.config = NULL; /* config_size bytes with nothing to read them from */
	ck_assert_int_eq(virtio_mmio_init(&bad.vdev, vm), -EINVAL);
}
END_TEST

/* ---- the status state machine: refused transitions ---- */

static unsigned long refused(void)
{
	return counter_get(&td.vdev.stat_status_refused);
}

START_TEST(legal_sequence_refuses_nothing)
{
	go_live();
	/* Writing the current status again is no transition. */
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_uint_eq(refused(), 0);
	ck_assert_int_eq(td.activations, 1);
}
END_TEST

START_TEST(refused_driver_ok_before_features_ok)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	wr(VIRTIO_MMIO_STATUS,
	   VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_DRIVER_OK);
	/* The written value is not taken at all. */
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(refused(), 1);
	ck_assert_int_eq(td.activations, 0);
	ck_assert(!td.vdev.active);
}
END_TEST

START_TEST(refused_features_ok_without_driver)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_FEATURES_OK);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE);
	ck_assert_uint_eq(refused(), 1);
	/* A legal step afterwards still works. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(refused(), 1);
}
END_TEST

START_TEST(refused_skipped_steps)
{
	/* One step per write: 0 -> ACKNOWLEDGE|DRIVER skips ACKNOWLEDGE. */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), 0);
	ck_assert_uint_eq(refused(), 2);
	ck_assert_int_eq(td.activations, 0);
}
END_TEST

START_TEST(refused_clearing_a_bit_without_reset)
{
	const uint32_t fok =
	    VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER | VIRTIO_STATUS_FEATURES_OK;

	negotiate(V1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), fok);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), fok);
	ck_assert_uint_eq(refused(), 1);
	/* Clearing DRIVER_OK of a live device neither resets nor deactivates it. */
	wr(VIRTIO_MMIO_STATUS, LIVE);
	wr(VIRTIO_MMIO_STATUS, fok);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), LIVE);
	ck_assert_uint_eq(refused(), 2);
	ck_assert(td.vdev.active);
	ck_assert_int_eq(td.resets, 0);
}
END_TEST

START_TEST(failed_at_any_time_then_only_reset)
{
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_FAILED);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_FAILED);
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(V1);
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER |
				   VIRTIO_STATUS_FEATURES_OK | VIRTIO_STATUS_FAILED);
	ck_assert_uint_eq(refused(), 0);
	/* A driver that gave up does not go live. */
	wr(VIRTIO_MMIO_STATUS, LIVE | VIRTIO_STATUS_FAILED);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS) & VIRTIO_STATUS_DRIVER_OK, 0);
	ck_assert_int_eq(td.activations, 0);
	ck_assert_uint_eq(refused(), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	go_live();
}
END_TEST

START_TEST(refused_features_are_not_a_refused_transition)
{
	/* The device declining the features is part of negotiation, not a
	 * driver error: FEATURES_OK reads back clear, nothing is counted. */
	td.refuse_features = true;
	negotiate(V1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), VIRTIO_STATUS_ACKNOWLEDGE | VIRTIO_STATUS_DRIVER);
	ck_assert_uint_eq(refused(), 0);
}
END_TEST

/* ---- the kick after DRIVER_OK ---- */

START_TEST(driver_ok_kicks_every_ready_queue)
{
	uint64_t one = 1;

	/* A kick written before DRIVER_OK is kept, not doubled. */
	ck_assert_int_eq(write(td.vdev.queues[0].kick_fd, &one, 8), 8);
	go_live(); /* queue 0 ready, queue 1 not */
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[0].kick_fd), 2);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[1].kick_fd), 0);
	/* No QueueNotify went through the exit path. */
	ck_assert_uint_eq(counter_get(&td.vdev.stat_notifies_on_exit_path), 0);
}
END_TEST

START_TEST(failed_activation_kicks_nothing)
{
	td.activate_result = -EINVAL;
	go_live_expect(LIVE | VIRTIO_STATUS_NEEDS_RESET);
	ck_assert_uint_eq(eventfd_count(td.vdev.queues[0].kick_fd), 0);
}
END_TEST

/* ---- queue errors ---- */

START_TEST(queue_pop_sets_needs_reset)
{
	struct virtq_elem *elem = calloc(1, sizeof(*elem));
	struct tdrv d;

	go_live_with_queue(V1, &d);
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), 0);
	tdrv_desc(&d, 0, 0x20000, 64, VIRTQ_DESC_F_WRITE, 0);
	tdrv_post(&d, 0);
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), 1);
	ck_assert_uint_eq(elem->in_bytes, 64);
	ck_assert(!virtio_mmio_needs_reset(&td.vdev));
	tdrv_post(&d, 9); /* head out of range */
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), -EINVAL);
	ck_assert(virtio_mmio_needs_reset(&td.vdev));
	ck_assert_uint_eq(counter_get(&td.vdev.stat_needs_reset), 1);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_INTERRUPT_STATUS), VIRTIO_MMIO_INT_CONFIG);
	/* Broken stays broken, reported once. */
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), -EINVAL);
	ck_assert_uint_eq(counter_get(&td.vdev.stat_needs_reset), 1);
	/* Reset and set-up bring the queue back. */
	wr(VIRTIO_MMIO_STATUS, 0);
	go_live_with_queue(V1, &d);
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), 0);
	free(elem);
}
END_TEST

START_TEST(queue_break_sets_needs_reset)
{
	struct virtq_elem *elem = calloc(1, sizeof(*elem));
	struct tdrv d;

	go_live_with_queue(V1, &d);
	tdrv_desc(&d, 0, 0x20000, 16, 0, 0);
	tdrv_post(&d, 0);
	tdrv_post(&d, 0);
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), 1);
	virtio_queue_break(&td.vdev, 0, "request without a writable status byte");
	ck_assert(td.vdev.queues[0].vq.broken);
	ck_assert_str_eq(td.vdev.queues[0].vq.error, "request without a writable status byte");
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), LIVE | VIRTIO_STATUS_NEEDS_RESET);
	/* The second chain is not served. */
	ck_assert_int_eq(virtio_queue_pop(&td.vdev, 0, elem), -EINVAL);
	ck_assert_uint_eq(counter_get(&td.vdev.stat_needs_reset), 1);
	free(elem);
}
END_TEST

/* ---- --stats ---- */

START_TEST(stats_report)
{
	struct json_object *dev;

	/* Registers never accessed are left out. */
	dev = unit_device_stats(vm, "test0");
	ck_assert_ptr_null(unit_json_at(dev, "exits_by_register.QueueNotify.w"));
	ck_assert_ptr_null(unit_json_at(dev, "exits_by_register.Status.w"));
	json_object_put(dev);

	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 7); /* bad queue */
	wr(VIRTIO_MMIO_STATUS, VIRTIO_STATUS_DRIVER_OK);
	virtio_mmio_signal_used(&td.vdev);
	dev = unit_device_stats(vm, "test0");
	ck_assert_str_eq(unit_json_str(dev, "transport.kind"), "virtio-mmio");
	ck_assert_str_eq(unit_json_str(dev, "transport.kicks_via"), "ioeventfd");
	ck_assert_str_eq(unit_json_str(dev, "transport.interrupts_via"), "irqfd");
	ck_assert_uint_eq(unit_json_u64(dev, "transport.interrupts"), 1);
	ck_assert_uint_eq(unit_json_u64(dev, "transport.notifies_on_exit_path"), 0);
	ck_assert_uint_eq(unit_json_u64(dev, "transport.needs_reset"), 0);
	ck_assert_uint_eq(unit_json_u64(dev, "transport.bad_accesses"), 1);
	ck_assert_uint_eq(unit_json_u64(dev, "transport.status_refused"), 1);
	/* Every register access that reached minivmm, by register and direction. */
	ck_assert_uint_eq(unit_json_u64(dev, "exits_by_register.QueueNotify.w"), 1);
	ck_assert_uint_eq(unit_json_u64(dev, "exits_by_register.Status.w"), 1);
	json_object_put(dev);
}
END_TEST

/* ---- a device with an I/O thread (virtio_mmio_init_with_iothread) ---- */

static atomic_uint io_kicks[2], io_batches;

static void io_kick0(void *opaque)
{
	ck_assert_ptr_eq(opaque, &td);
	atomic_fetch_add(&io_kicks[0], 1);
}

static void io_kick1(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&io_kicks[1], 1);
}

static void io_after_batch(void *opaque)
{
	(void)opaque;
	atomic_fetch_add(&io_batches, 1);
}

static const struct virtio_io_desc io_desc = {
    .ring_entries = 16,
    .opaque = &td,
    .kick = {io_kick0, io_kick1},
    .after_batch = io_after_batch,
};

/* Wait up to 5 s for *v to reach want. */
static bool wait_count(atomic_uint *v, unsigned int want)
{
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	do {
		if (atomic_load(v) >= want)
			return atomic_load(v) == want;
		sched_yield();
		clock_gettime(CLOCK_MONOTONIC, &now);
	} while (now.tv_sec - start.tv_sec < 5);
	return false;
}

static void setup_io(void)
{
	vm = fake_vm_create(RAM);
	init_dev(&td, "test0");
	atomic_store(&io_kicks[0], 0);
	atomic_store(&io_kicks[1], 0);
	atomic_store(&io_batches, 0);
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&td.vdev, vm, &io_desc), 0);
	ck_assert_ptr_nonnull(td.vdev.io);
}

START_TEST(iothread_started_at_driver_ok_and_kicked)
{
	uint64_t one = 1;

	/* Nothing runs before DRIVER_OK. */
	ck_assert_int_eq(write(td.vdev.queues[1].kick_fd, &one, 8), 8);
	usleep(20000);
	ck_assert_uint_eq(atomic_load(&io_kicks[1]), 0);
	wr(VIRTIO_MMIO_STATUS, 0); /* drops that kick */
	go_live();
	/* The transport's kick after DRIVER_OK reaches the ready queue's handler. */
	ck_assert(wait_count(&io_kicks[0], 1));
	ck_assert(wait_count(&io_batches, 1) || atomic_load(&io_batches) > 1);
	ck_assert_int_eq(write(td.vdev.queues[1].kick_fd, &one, 8), 8);
	ck_assert(wait_count(&io_kicks[1], 1));
	/* Reset stops the thread before the device's reset. */
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(td.resets, 1);
	ck_assert_int_eq(write(td.vdev.queues[0].kick_fd, &one, 8), 8);
	usleep(20000);
	ck_assert_uint_eq(atomic_load(&io_kicks[0]), 1);
	/* Up again: restarted, and kicked once more (the stale kick was not
	 * drained, so it may coalesce with the transport's). */
	go_live();
	ck_assert(wait_count(&io_kicks[0], 2));
}
END_TEST

START_TEST(iothread_not_started_when_activation_fails)
{
	td.activate_result = -EINVAL;
	go_live_expect(LIVE | VIRTIO_STATUS_NEEDS_RESET);
	usleep(20000);
	ck_assert_uint_eq(atomic_load(&io_kicks[0]), 0);
	ck_assert_uint_eq(atomic_load(&io_batches), 0);
}
END_TEST

START_TEST(iothread_needs_every_kick_handler)
{
	struct test_dev other;
	struct virtio_io_desc half = io_desc;

	half.kick[1] = NULL;
	init_dev(&other, "other");
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&other.vdev, vm, &half), -EINVAL);
	ck_assert_ptr_null(other.vdev.io);
	ck_assert_int_eq(other.vdev.queues[0].kick_fd, -1);
}
END_TEST

/* ---- multi-queue: several I/O threads, each serving its queues ---- */

#define MQ_QUEUES 3

/* What a kick handler gets (kick_opaque): its queue, and the thread that must run it. */
static struct mq_queue {
	unsigned int q;
	const char *thread; /* the name the transport gives the serving thread */
	atomic_uint kicks, on_wrong_thread;
} mq_queues[MQ_QUEUES];

/* What a thread's batch hook gets (thread_opaque). */
static struct mq_thread {
	const char *name;
	atomic_uint batches, on_wrong_thread;
} mq_threads[2];

/* Queue 0 on thread 0, queues 1 and 2 on thread 1. */
static const uint8_t mq_queue_thread[MQ_QUEUES] = {0, 1, 1};
static atomic_int mq_slow_queue = -1; /* a kick of this queue takes 100 ms */
static atomic_uint mq_kicks_in_flight, mq_in_flight_at_reset, mq_slow_started;

static bool on_thread(const char *name)
{
	char self[16] = "";

	pthread_getname_np(pthread_self(), self, sizeof(self));
	return strcmp(self, name) == 0;
}

static void mq_kick(void *opaque)
{
	struct mq_queue *mq = opaque;

	atomic_fetch_add(&mq_kicks_in_flight, 1);
	if (!on_thread(mq->thread))
		atomic_fetch_add(&mq->on_wrong_thread, 1);
	if (atomic_load(&mq_slow_queue) == (int)mq->q) {
		atomic_store(&mq_slow_started, 1);
		usleep(100000);
	}
	atomic_fetch_add(&mq->kicks, 1);
	atomic_fetch_sub(&mq_kicks_in_flight, 1);
}

static void mq_after_batch(void *opaque)
{
	struct mq_thread *t = opaque;

	if (!on_thread(t->name))
		atomic_fetch_add(&t->on_wrong_thread, 1);
	atomic_fetch_add(&t->batches, 1);
}

/* The transport must have stopped every thread, with no kick running, before this. */
static void mq_reset(struct virtio_device *dev)
{
	atomic_store(&mq_in_flight_at_reset, atomic_load(&mq_kicks_in_flight));
	((struct test_dev *)dev)->resets++;
}

static const struct virtio_device_ops mq_ops = {
    .activate = t_activate,
    .reset = mq_reset,
};

static struct virtio_io_desc mq_desc(void)
{
	struct virtio_io_desc io = {
	    .ring_entries = 16,
	    .opaque = &td,
	    .after_batch = mq_after_batch,
	    .nr_threads = 2,
	    .thread_opaque = {&mq_threads[0], &mq_threads[1]},
	};

	for (unsigned int q = 0; q < MQ_QUEUES; q++) {
		io.kick[q] = mq_kick;
		io.kick_opaque[q] = &mq_queues[q];
		io.queue_thread[q] = mq_queue_thread[q];
	}
	return io;
}

static void mq_report(void *opaque, struct json_object *obj)
{
	virtio_mmio_report_iothreads(opaque, obj);
}

/* "mq0": three queues on two I/O threads, named "mq0/0" and "mq0/1". */
static void setup_mq(void)
{
	static const char *const names[] = {"mq0/0", "mq0/1"};
	struct virtio_io_desc io = mq_desc();

	vm = fake_vm_create(RAM);
	memset(mq_queues, 0, sizeof(mq_queues));
	memset(mq_threads, 0, sizeof(mq_threads));
	for (unsigned int q = 0; q < MQ_QUEUES; q++) {
		mq_queues[q].q = q;
		mq_queues[q].thread = names[mq_queue_thread[q]];
	}
	mq_threads[0].name = names[0];
	mq_threads[1].name = names[1];
	atomic_store(&mq_slow_queue, -1);
	atomic_store(&mq_kicks_in_flight, 0);
	atomic_store(&mq_in_flight_at_reset, 0);
	atomic_store(&mq_slow_started, 0);
	init_dev(&td, "mq0");
	td.vdev.nr_queues = MQ_QUEUES;
	td.vdev.ops = &mq_ops;
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&td.vdev, vm, &io), 0);
	ck_assert_int_eq(virtio_mmio_seal_iothreads(&td.vdev), 0);
	vm_register_stats(vm, "mq0", mq_report, &td.vdev);
}

/* Every queue set up (rings 64 KiB apart), then DRIVER_OK. */
static void mq_go_live(void)
{
	struct tdrv d[MQ_QUEUES];

	negotiate(V1);
	for (unsigned int q = 0; q < MQ_QUEUES; q++) {
		tdrv_init(&d[q], &vm->mem, 8, 0x10000 * (q + 1));
		setup_queue(q, &d[q]);
	}
	wr(VIRTIO_MMIO_STATUS, LIVE);
	ck_assert_uint_eq(rd(VIRTIO_MMIO_STATUS), LIVE);
}

static void mq_kick_queue(unsigned int q)
{
	uint64_t one = 1;

	ck_assert_int_eq(write(td.vdev.queues[q].kick_fd, &one, 8), 8);
}

START_TEST(mq_threads_created_per_description)
{
	ck_assert_uint_eq(td.vdev.nr_io_threads, 2);
	ck_assert_ptr_nonnull(td.vdev.io_threads[0]);
	ck_assert_ptr_nonnull(td.vdev.io_threads[1]);
	ck_assert_ptr_ne(td.vdev.io_threads[0], td.vdev.io_threads[1]);
	ck_assert_ptr_eq(td.vdev.io, td.vdev.io_threads[0]);
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert_ptr_eq(virtio_queue_iothread(&td.vdev, q),
				 td.vdev.io_threads[mq_queue_thread[q]]);
	/* Each queue's QueueNotify still reaches its own eventfd through KVM. */
	ck_assert_uint_eq(fake_vm.nr_ioeventfds, MQ_QUEUES);
	for (unsigned int q = 0; q < MQ_QUEUES; q++) {
		ck_assert_uint_eq(fake_vm.ioeventfds[q].datamatch, q);
		ck_assert_int_eq(fake_vm.ioeventfds[q].fd, td.vdev.queues[q].kick_fd);
	}
}
END_TEST

START_TEST(mq_kick_runs_on_the_thread_serving_the_queue)
{
	mq_go_live();
	/* DRIVER_OK kicks every ready queue once, each on its own thread. */
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert(wait_count(&mq_queues[q].kicks, 1));
	for (unsigned int round = 2; round <= 4; round++)
		for (unsigned int q = 0; q < MQ_QUEUES; q++) {
			mq_kick_queue(q);
			ck_assert(wait_count(&mq_queues[q].kicks, round));
		}
	/* QueueNotify on the exit path (no ioeventfd) takes the same eventfd. */
	wr(VIRTIO_MMIO_QUEUE_NOTIFY, 2);
	ck_assert(wait_count(&mq_queues[2].kicks, 5));
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert_uint_eq(atomic_load(&mq_queues[q].on_wrong_thread), 0);
	/* Both threads ran batches, each with its own opaque, on itself. */
	for (unsigned int t = 0; t < 2; t++) {
		ck_assert(wait_count(&mq_threads[t].batches, 1) ||
			  atomic_load(&mq_threads[t].batches) > 1);
		ck_assert_uint_eq(atomic_load(&mq_threads[t].on_wrong_thread), 0);
	}
}
END_TEST

START_TEST(mq_reset_stops_every_thread_first)
{
	mq_go_live();
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert(wait_count(&mq_queues[q].kicks, 1));
	/* A kick still running on thread 1 when the driver resets the device. */
	atomic_store(&mq_slow_queue, 1);
	mq_kick_queue(1);
	while (!atomic_load(&mq_slow_started))
		sched_yield();
	wr(VIRTIO_MMIO_STATUS, 0);
	ck_assert_int_eq(td.resets, 1);
	ck_assert_uint_eq(atomic_load(&mq_in_flight_at_reset), 0);
	ck_assert_uint_eq(atomic_load(&mq_queues[1].kicks), 2);
	/* Neither thread serves kicks any more. */
	mq_kick_queue(0);
	mq_kick_queue(2);
	usleep(20000);
	ck_assert_uint_eq(atomic_load(&mq_queues[0].kicks), 1);
	ck_assert_uint_eq(atomic_load(&mq_queues[2].kicks), 1);
	/* Up again: both threads restart. */
	atomic_store(&mq_slow_queue, -1);
	mq_go_live();
	ck_assert(wait_count(&mq_queues[0].kicks, 2));
	ck_assert(wait_count(&mq_queues[2].kicks, 2));
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert_uint_eq(atomic_load(&mq_queues[q].on_wrong_thread), 0);
}
END_TEST

START_TEST(mq_queue_index_beyond_nr_queues_refused)
{
	static const uint32_t beyond[] = {MQ_QUEUES, VIRTIO_MMIO_MAX_QUEUES - 1,
					  VIRTIO_MMIO_MAX_QUEUES, 0xffffffff};
	unsigned long bad;

	mq_go_live();
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert(wait_count(&mq_queues[q].kicks, 1));
	wr(VIRTIO_MMIO_STATUS, 0);
	negotiate(V1);
	bad = counter_get(&td.vdev.stat_bad_accesses);
	for (unsigned int i = 0; i < ARRAY_SIZE(beyond); i++) {
		wr(VIRTIO_MMIO_QUEUE_SEL, beyond[i]);
		ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_NUM_MAX), 0);
		wr(VIRTIO_MMIO_QUEUE_NUM, 8);
		wr(VIRTIO_MMIO_QUEUE_DESC_LOW, 0x1000);
		wr(VIRTIO_MMIO_QUEUE_READY, 1);
		ck_assert_uint_eq(rd(VIRTIO_MMIO_QUEUE_READY), 0);
		wr(VIRTIO_MMIO_QUEUE_NOTIFY, beyond[i]);
	}
	ck_assert_uint_eq(counter_get(&td.vdev.stat_bad_accesses) - bad, 4 * ARRAY_SIZE(beyond));
	/* Nothing was kicked, and the device still goes live with its own queues. */
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert_uint_eq(atomic_load(&mq_queues[q].kicks), 1);
	wr(VIRTIO_MMIO_STATUS, 0);
	mq_go_live();
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert(wait_count(&mq_queues[q].kicks, 2));
}
END_TEST

START_TEST(mq_stats_per_thread_and_summed)
{
	struct json_object *dev, *threads, *t1;
	uint64_t signals = 0;

	mq_go_live();
	for (unsigned int q = 0; q < MQ_QUEUES; q++)
		ck_assert(wait_count(&mq_queues[q].kicks, 1));
	dev = unit_device_stats(vm, "mq0");
	threads = unit_json_at(dev, "io_threads");
	ck_assert_ptr_nonnull(threads);
	ck_assert_uint_eq(json_object_array_length(threads), 2);
	for (unsigned int t = 0; t < 2; t++)
		signals += unit_json_u64(json_object_array_get_idx(threads, t), "eventfd_signals");
	t1 = json_object_array_get_idx(threads, 1);
	ck_assert_uint_ge(unit_json_u64(t1, "eventfd_signals"), 1);
	ck_assert_str_eq(json_object_to_json_string(unit_json_at(t1, "queues")), "[ 1, 2 ]");
	/* virtio_mmio_report_iothreads(): the sum, without the queue lists. */
	ck_assert_uint_eq(unit_json_u64(dev, "io_thread.eventfd_signals"), signals);
	ck_assert_uint_ge(signals, MQ_QUEUES);
	ck_assert_ptr_null(unit_json_at(dev, "io_thread.queues"));
	json_object_put(dev);
}
END_TEST

/* A description the transport refuses leaves nothing behind. */
static void mq_expect_refused(struct virtio_io_desc *io, unsigned int nr_queues)
{
	struct test_dev other;

	init_dev(&other, "other");
	other.vdev.nr_queues = nr_queues;
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&other.vdev, vm, io), -EINVAL);
	ck_assert_ptr_null(other.vdev.io);
	ck_assert_uint_eq(other.vdev.nr_io_threads, 0);
	ck_assert_int_eq(other.vdev.queues[0].kick_fd, -1);
}

START_TEST(mq_bad_descriptions_refused)
{
	struct virtio_io_desc io = mq_desc();
	unsigned int ioeventfds = fake_vm.nr_ioeventfds;

	io.nr_threads = VIRTIO_MMIO_MAX_IOTHREADS + 1;
	mq_expect_refused(&io, MQ_QUEUES);
	io = mq_desc();
	io.queue_thread[2] = 2; /* only threads 0 and 1 */
	mq_expect_refused(&io, MQ_QUEUES);
	io = mq_desc();
	io.nr_threads = 3; /* thread 2 would serve nothing */
	mq_expect_refused(&io, MQ_QUEUES);
	io = mq_desc();
	io.kick[1] = NULL;
	mq_expect_refused(&io, MQ_QUEUES);
	io = mq_desc();
	mq_expect_refused(&io, VIRTIO_MMIO_MAX_QUEUES + 1);
	ck_assert_uint_eq(fake_vm.nr_ioeventfds, ioeventfds);
}
END_TEST

/* The most queues a device may have, spread over the most threads, round robin. */
START_TEST(mq_most_queues_on_most_threads)
{
	struct virtio_io_desc io = {.ring_entries = 8, .nr_threads = VIRTIO_MMIO_MAX_IOTHREADS};
	static struct mq_queue many[VIRTIO_MMIO_MAX_QUEUES];
	static char names[VIRTIO_MMIO_MAX_IOTHREADS][16];
	struct test_dev big;
	struct tdrv d;

	for (unsigned int t = 0; t < VIRTIO_MMIO_MAX_IOTHREADS; t++)
		snprintf(names[t], sizeof(names[t]), "big/%u", t);
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++) {
		io.kick[q] = mq_kick;
		io.kick_opaque[q] = &many[q];
		io.queue_thread[q] = (uint8_t)(q % VIRTIO_MMIO_MAX_IOTHREADS);
		many[q] = (struct mq_queue){.q = q, .thread = names[q % VIRTIO_MMIO_MAX_IOTHREADS]};
	}
	init_dev(&big, "big");
	big.vdev.nr_queues = VIRTIO_MMIO_MAX_QUEUES;
	big.vdev.ops = &mq_ops;
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&big.vdev, vm, &io), 0);
	ck_assert_uint_eq(big.vdev.nr_io_threads, VIRTIO_MMIO_MAX_IOTHREADS);
	tmmio_negotiate(&big.vdev, V1);
	tdrv_init(&d, &vm->mem, 8, 0x80000);
	tmmio_setup_queue(&big.vdev, VIRTIO_MMIO_MAX_QUEUES - 1, d.size, d.desc, d.avail, d.used);
	tmmio_write(&big.vdev, VIRTIO_MMIO_STATUS, LIVE);
	/* The last queue (a net control queue's place) works like any other. */
	ck_assert(wait_count(&many[VIRTIO_MMIO_MAX_QUEUES - 1].kicks, 1));
	tmmio_write(&big.vdev, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_MMIO_MAX_QUEUES - 1);
	ck_assert(wait_count(&many[VIRTIO_MMIO_MAX_QUEUES - 1].kicks, 2));
	tmmio_write(&big.vdev, VIRTIO_MMIO_QUEUE_NOTIFY, VIRTIO_MMIO_MAX_QUEUES);
	ck_assert_uint_eq(counter_get(&big.vdev.stat_bad_accesses), 1);
	for (unsigned int q = 0; q < VIRTIO_MMIO_MAX_QUEUES; q++)
		ck_assert_uint_eq(atomic_load(&many[q].on_wrong_thread), 0);
	virtio_mmio_destroy(&big.vdev);
	ck_assert_ptr_null(big.vdev.io);
	ck_assert_uint_eq(big.vdev.nr_io_threads, 0);
}
END_TEST

/* The default: one thread, named after the device, serving every queue. */
START_TEST(iothread_single_by_default)
{
	struct mq_queue q1 = {.q = 1, .thread = "test0"};
	struct test_dev other;
	struct virtio_io_desc io = io_desc;

	ck_assert_uint_eq(td.vdev.nr_io_threads, 1);
	ck_assert_ptr_eq(td.vdev.io_threads[0], td.vdev.io);
	ck_assert_ptr_eq(virtio_queue_iothread(&td.vdev, 0), td.vdev.io);
	ck_assert_ptr_eq(virtio_queue_iothread(&td.vdev, 1), td.vdev.io);
	/* nr_threads = 1 is the same as leaving it 0. */
	init_dev(&other, "other");
	io.nr_threads = 1;
	io.kick[1] = mq_kick;
	io.kick_opaque[1] = &q1;
	q1.thread = "other";
	ck_assert_int_eq(virtio_mmio_init_with_iothread(&other.vdev, vm, &io), 0);
	ck_assert_uint_eq(other.vdev.nr_io_threads, 1);
	tmmio_negotiate(&other.vdev, V1);
	tmmio_write(&other.vdev, VIRTIO_MMIO_STATUS, LIVE);
	tmmio_write(&other.vdev, VIRTIO_MMIO_QUEUE_NOTIFY, 1);
	ck_assert(wait_count(&q1.kicks, 1));
	ck_assert_uint_eq(atomic_load(&q1.on_wrong_thread), 0);
	virtio_mmio_destroy(&other.vdev);
}
END_TEST

Suite *virtio_mmio_suite(void)
{
	Suite *s = suite_create("virtio_mmio");

	unit_tcase(
	    s, "transport", setup, teardown,
	    UNIT_TESTS(placement_and_cmdline, slots_run_out, identification, device_features,
		       negotiation_accepts_subset_with_version_1, negotiation_refuses_legacy,
		       negotiation_refuses_unoffered_bits, negotiation_refused_by_device,
		       refusals_repeated_by_the_guest_log_a_few_lines,
		       features_before_driver_are_ignored, queue_registers, ring_address_halves,
		       driver_ok_activates, driver_ok_without_features_ok,
		       activation_failure_needs_reset, driver_cannot_set_needs_reset,
		       reset_returns_to_initial_state, reset_drops_pending_kicks,
		       interrupts_via_irqfd, external_data_plane_reads_vring_while_live,
		       interrupts_without_irqfd, notify_with_ioeventfd_registered,
		       notify_fallback_without_ioeventfd, needs_reset_reported_once, config_space,
		       bad_register_accesses, init_rejects_bad_devices,
		       legal_sequence_refuses_nothing, refused_driver_ok_before_features_ok,
		       refused_features_ok_without_driver, refused_skipped_steps,
		       refused_clearing_a_bit_without_reset, failed_at_any_time_then_only_reset,
		       refused_features_are_not_a_refused_transition,
		       driver_ok_kicks_every_ready_queue, failed_activation_kicks_nothing,
		       queue_pop_sets_needs_reset, queue_break_sets_needs_reset, stats_report,
		       iothread_needs_every_kick_handler));
	unit_tcase(s, "iothread", setup_io, teardown,
		   UNIT_TESTS(iothread_started_at_driver_ok_and_kicked,
			      iothread_not_started_when_activation_fails,
			      iothread_single_by_default));
	unit_tcase(s, "multiqueue", setup_mq, teardown,
		   UNIT_TESTS(mq_threads_created_per_description,
			      mq_kick_runs_on_the_thread_serving_the_queue,
			      mq_reset_stops_every_thread_first,
			      mq_queue_index_beyond_nr_queues_refused,
			      mq_stats_per_thread_and_summed, mq_bad_descriptions_refused,
			      mq_most_queues_on_most_threads));
	return s;
}

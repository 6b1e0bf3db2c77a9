/*
 * The disk backend (devices/block/) on its own, without a virtqueue: every
 * op on both engines against a temporary image, the short-transfer policy
 * (synthetic results, a read across the end of the file, a write cut short
 * by RLIMIT_FSIZE), O_DIRECT alignment and bounce decisions, and errors.
 *
 * The io_uring engine submits on an I/O thread's ring, so the tests hand it
 * each request through an eventfd watch that calls disk_submit() in that
 * thread, and wait for the completion callback.  Images live in /var/tmp:
 * cache=none needs a file system with O_DIRECT (older tmpfs has none).
 */
#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "devices/block/disk.h"
#include "devices/block/disk_engine.h"
#include "disk_image.h"
#include "helpers.h"
#include "util.h"
#include "vm_config.h"

#define IMG_BYTES (64 * 1024)

/* One request and what its completion reported. */
struct treq {
	struct disk_request r;
	int result;
	atomic_int calls;
	bool on_test_thread; /* done ran on the thread that called td_run() */
};

static char img_path[64];
static int img_fd = -1;
static struct disk *disk;
static struct iothread *io;
static int go_fd = -1, done_fd = -1;
static struct treq *pending; /* handed to the I/O thread */
static int pending_submit;   /* disk_submit()'s return there */
static bool in_submit;	     /* I/O thread: td_on_go() is inside disk_submit() */
static bool done_in_submit;  /* the last request's done ran inside disk_submit() */
static pthread_t test_thread;

static enum disk_engine td_engine_of(int i)
{
	return i ? DISK_ENGINE_SYNC : DISK_ENGINE_IO_URING;
}

static void td_make_image(size_t bytes)
{
	img_fd = disk_image_create("/var/tmp", "disk", img_path, sizeof(img_path), bytes);
}

static void td_on_done(struct disk_request *r, int result)
{
	struct treq *t = container_of(r, struct treq, r);
	uint64_t one = 1;

	t->result = result;
	t->on_test_thread = pthread_equal(pthread_self(), test_thread);
	/* Inside td_on_go's disk_submit(), td_on_go signals once it returns. */
	if (atomic_fetch_add(&t->calls, 1) == 0 && !t->on_test_thread && !in_submit)
		ck_assert_int_eq(write(done_fd, &one, sizeof(one)), sizeof(one));
}

/* In the I/O thread: submit the pending request. */
static void td_on_go(void *opaque)
{
	uint64_t one = 1;

	(void)opaque;
	in_submit = true;
	pending_submit = disk_submit(disk, &pending->r);
	in_submit = false;
	done_in_submit = atomic_load(&pending->calls) > 0;
	if (pending_submit || done_in_submit)
		ck_assert_int_eq(write(done_fd, &one, sizeof(one)), sizeof(one));
}

static void td_open_disk(enum disk_engine engine, enum disk_cache cache, bool ro)
{
	struct disk_config cfg = {
	    .path = img_path, .read_only = ro, .cache = cache, .engine = engine};

	test_thread = pthread_self();
	disk = disk_open(&cfg);
	ck_assert_ptr_nonnull(disk);
	io = iothread_create("test-disk", 64);
	ck_assert_ptr_nonnull(io);
	go_fd = eventfd(0, EFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(go_fd, 0);
	ck_assert_int_ge(done_fd, 0);
	ck_assert_int_eq(iothread_watch_eventfd(io, go_fd, td_on_go, NULL), 0);
	/* Before the start: the engine registers the image with the ring. */
	disk_use_iothread(disk, io);
	ck_assert_int_eq(iothread_start(io), 0);
}

static void td_close_disk(void)
{
	iothread_destroy(io);
	disk_close(disk);
	close(go_fd);
	close(done_fd);
	close(img_fd);
	unlink(img_path);
}

/*
 * Submit t (on the test thread for the sync engine, in the I/O thread for
 * io_uring) and wait for its completion.  Returns disk_submit()'s value;
 * t->result holds the completion's.
 */
static int td_run(struct treq *t)
{
	struct pollfd p = {.fd = done_fd, .events = POLLIN};
	uint64_t one = 1, v;
	int ret;

	t->r.done = td_on_done;
	t->result = 1;
	atomic_store(&t->calls, 0);
	if (disk_props(disk)->inline_completion) {
		ret = disk_submit(disk, &t->r);
		/* The sync engine is done before disk_submit returns. */
		ck_assert_int_eq(atomic_load(&t->calls), ret ? 0 : 1);
		return ret;
	}
	pending = t;
	ck_assert_int_eq(write(go_fd, &one, sizeof(one)), sizeof(one));
	ck_assert_msg(poll(&p, 1, 10000) == 1, "no completion within 10 s");
	ck_assert_int_eq(read(done_fd, &v, sizeof(v)), sizeof(v));
	ret = pending_submit;
	ck_assert_int_eq(atomic_load(&t->calls), ret ? 0 : 1);
	if (!ret)
		ck_assert(!t->on_test_thread); /* completions come from the ring */
	return ret;
}

/* A read or write over iov, run to completion; returns the result. */
static int td_rw(enum disk_op op, uint64_t offset, struct iovec *iov, unsigned int cnt,
		 struct treq *t)
{
	uint64_t len = 0;

	for (unsigned int i = 0; i < cnt; i++)
		len += iov[i].iov_len;
	*t =
	    (struct treq){.r = {.op = op, .iov = iov, .iovcnt = cnt, .offset = offset, .len = len}};
	ck_assert_int_eq(td_run(t), 0);
	return t->result;
}

static int td_range_op(enum disk_op op, uint64_t offset, uint64_t len, bool unmap)
{
	struct treq t = {.r = {.op = op, .offset = offset, .len = len, .unmap = unmap}};

	ck_assert_int_eq(td_run(&t), 0);
	return t.result;
}

static void td_assert_file(uint64_t offset, const uint8_t *want, size_t len)
{
	uint8_t *got = malloc(len);

	ck_assert_int_eq(pread(img_fd, got, len, (off_t)offset), (ssize_t)len);
	ck_assert_mem_eq(got, want, len);
	free(got);
}

static void td_assert_pattern(const uint8_t *buf, uint64_t offset, size_t len)
{
	size_t i = 0;

	/* One check at the first difference, not one per byte: megabytes of
	 * ck_assert calls took half a minute under ASan on a loaded host. */
	while (i < len && buf[i] == disk_image_byte(offset + i))
		i++;
	ck_assert_msg(i == len, "byte %zu of %zu at offset %llu: 0x%02x, expected 0x%02x", i, len,
		      (unsigned long long)(offset + i), i < len ? buf[i] : 0,
		      i < len ? disk_image_byte(offset + i) : 0);
}

static void td_assert_zero_in_file(uint64_t offset, size_t len)
{
	uint8_t zero[4096] = {0};

	ck_assert_uint_le(len, sizeof(zero));
	td_assert_file(offset, zero, len);
}

START_TEST(each_op)
{
	uint8_t a[3000], b[5192], w[4096];
	struct iovec rd[] = {{a, sizeof(a)}, {b, sizeof(b)}};
	struct iovec wr[] = {{w, 1000}, {w + 1000, 96}, {w + 1096, 3000}};
	struct treq t;

	td_make_image(IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	ck_assert_str_eq(disk_props(disk)->engine, _i ? "sync" : "io_uring");
	ck_assert_str_eq(disk_props(disk)->cache, "writeback");
	ck_assert_uint_eq(disk_props(disk)->size, IMG_BYTES);
	ck_assert_uint_eq(disk_props(disk)->block_size, 512);

	/* READ into two segments. */
	ck_assert_int_eq(td_rw(DISK_OP_READ, 4096, rd, 2, &t), 0);
	ck_assert_uint_eq(t.r.transferred, 8192);
	td_assert_pattern(a, 4096, sizeof(a));
	td_assert_pattern(b, 4096 + sizeof(a), sizeof(b));

	/* WRITE from three. */
	for (unsigned int i = 0; i < sizeof(w); i++)
		w[i] = (uint8_t)(i * 13 + 1);
	ck_assert_int_eq(td_rw(DISK_OP_WRITE, 12288, wr, 3, &t), 0);
	ck_assert_uint_eq(t.r.transferred, 4096);
	td_assert_file(12288, w, sizeof(w));

	ck_assert_int_eq(td_range_op(DISK_OP_FLUSH, 0, 0, false), 0);

	/* DISCARD punches a hole; WRITE_ZEROES zeroes, with unmap too. */
	ck_assert_int_eq(td_range_op(DISK_OP_DISCARD, 16384, 4096, false), 0);
	td_assert_zero_in_file(16384, 4096);
	ck_assert_int_eq(td_range_op(DISK_OP_WRITE_ZEROES, 20480, 1024, false), 0);
	td_assert_zero_in_file(20480, 1024);
	ck_assert_int_eq(td_range_op(DISK_OP_WRITE_ZEROES, 24576, 2048, true), 0);
	td_assert_zero_in_file(24576, 2048);
	/* Neighbours untouched, size kept. */
	{
		uint8_t n[2];

		ck_assert_int_eq(pread(img_fd, n, 1, 20480 + 1024), 1);
		ck_assert_int_eq(pread(img_fd, n + 1, 1, 16384 - 1), 1);
		ck_assert_uint_eq(n[0], disk_image_byte(20480 + 1024));
		ck_assert_uint_eq(n[1], w[4095]); /* the WRITE above */
	}
	ck_assert_int_eq(lseek(img_fd, 0, SEEK_END), IMG_BYTES);
	ck_assert_uint_eq(disk_counters(disk)->bounced, 0);
	td_close_disk();
}
END_TEST

/* Several requests in one batch on the ring: each completes once. */
/*
 * tmpfs (/dev/shm, and so a memfd) has no FALLOC_FL_ZERO_RANGE: WRITE_ZEROES
 * still zeroes the range and leaves it allocated (found by fuzz_virtio_blk).
 */
START_TEST(write_zeroes_without_zero_range)
{
	struct stat before, after;

	img_fd = disk_image_create("/dev/shm", "disk", img_path, sizeof(img_path), IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	ck_assert_int_eq(fstat(img_fd, &before), 0);
	ck_assert_int_eq(td_range_op(DISK_OP_WRITE_ZEROES, 8192, 4096, false), 0);
	td_assert_zero_in_file(8192, 4096);
	ck_assert_int_eq(fstat(img_fd, &after), 0);
	ck_assert_int_eq(after.st_blocks, before.st_blocks);
	ck_assert_int_eq(td_range_op(DISK_OP_WRITE_ZEROES, 0, 4096, true), 0);
	td_assert_zero_in_file(0, 4096);
	ck_assert_int_eq(lseek(img_fd, 0, SEEK_END), IMG_BYTES);
	td_close_disk();
}
END_TEST

static struct treq batch[8];
static uint8_t batch_buf[8][512];
static struct iovec batch_iov[8];

static void td_on_go_batch(void *opaque)
{
	(void)opaque;
	for (unsigned int i = 0; i < 8; i++)
		ck_assert_int_eq(disk_submit(disk, &batch[i].r), 0);
}

static void td_on_batch_done(struct disk_request *r, int result)
{
	struct treq *t = container_of(r, struct treq, r);
	uint64_t one = 1;

	t->result = result;
	atomic_fetch_add(&t->calls, 1);
	ck_assert_int_eq(write(done_fd, &one, sizeof(one)), sizeof(one));
}

START_TEST(uring_batch)
{
	struct disk_config cfg = {.path = img_path, .engine = DISK_ENGINE_IO_URING};
	unsigned int completed = 0;

	td_make_image(IMG_BYTES);
	disk = disk_open(&cfg);
	ck_assert_ptr_nonnull(disk);
	ck_assert(!disk_props(disk)->inline_completion);
	io = iothread_create("test-disk", 64);
	go_fd = eventfd(0, EFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_eq(iothread_watch_eventfd(io, go_fd, td_on_go_batch, NULL), 0);
	disk_use_iothread(disk, io);
	for (unsigned int i = 0; i < 8; i++) {
		batch_iov[i] = (struct iovec){batch_buf[i], 512};
		batch[i] = (struct treq){.r = {.op = DISK_OP_READ,
					       .iov = &batch_iov[i],
					       .iovcnt = 1,
					       .offset = i * 1024,
					       .len = 512,
					       .done = td_on_batch_done}};
	}
	ck_assert_int_eq(iothread_start(io), 0);
	ck_assert_int_eq(write(go_fd, &(uint64_t){1}, 8), 8);
	while (completed < 8) {
		struct pollfd p = {.fd = done_fd, .events = POLLIN};
		uint64_t v;

		ck_assert_msg(poll(&p, 1, 10000) == 1, "batch did not complete");
		ck_assert_int_eq(read(done_fd, &v, sizeof(v)), sizeof(v));
		completed += (unsigned int)v;
	}
	iothread_stop(io);
	for (unsigned int i = 0; i < 8; i++) {
		ck_assert_int_eq(batch[i].result, 0);
		ck_assert_int_eq(atomic_load(&batch[i].calls), 1);
		td_assert_pattern(batch_buf[i], i * 1024, 512);
	}
	td_close_disk();
}
END_TEST

/* The policy itself, on made-up results: continue, finish, fail. */
START_TEST(short_transfer_policy)
{
	uint8_t buf[600], bounce[600];
	struct iovec iov[3], one, *win;
	unsigned int cnt;
	struct disk_request r;
	int result = 1;

	iov[0] = (struct iovec){buf, 100};
	iov[1] = (struct iovec){buf + 100, 200};
	iov[2] = (struct iovec){buf + 300, 300};
	r = (struct disk_request){.op = DISK_OP_READ, .iov = iov, .iovcnt = 3, .len = 600};

	/* 150 of 600: go on with the rest, which starts 50 bytes into iov[1]. */
	ck_assert(disk_rw_progress(&r, 150, &result));
	ck_assert_uint_eq(r.transferred, 150);
	disk_rw_window(&r, &one, &win, &cnt);
	ck_assert_uint_eq(cnt, 2);
	ck_assert_ptr_eq(win[0].iov_base, buf + 150);
	ck_assert_uint_eq(win[0].iov_len, 150);
	ck_assert_ptr_eq(win[1].iov_base, buf + 300);
	/* EINTR: try again, nothing moved. */
	ck_assert(disk_rw_progress(&r, -EINTR, &result));
	ck_assert_uint_eq(r.transferred, 150);
	/* Exactly to the end of a segment. */
	ck_assert(disk_rw_progress(&r, 150, &result));
	disk_rw_window(&r, &one, &win, &cnt);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_ptr_eq(win[0].iov_base, buf + 300);
	/* The rest: done, success. */
	ck_assert(!disk_rw_progress(&r, 300, &result));
	ck_assert_int_eq(result, 0);
	ck_assert_uint_eq(r.transferred, 600);

	/* Nothing moved (end of file): -EIO, how far it got stays. */
	r = (struct disk_request){.op = DISK_OP_READ, .iov = iov, .iovcnt = 1, .len = 100};
	iov[0] = (struct iovec){buf, 100};
	ck_assert(disk_rw_progress(&r, 40, &result));
	ck_assert(!disk_rw_progress(&r, 0, &result));
	ck_assert_int_eq(result, -EIO);
	ck_assert_uint_eq(r.transferred, 40);
	/* A zero-length transfer is whole at once. */
	r = (struct disk_request){.op = DISK_OP_READ, .iov = iov, .iovcnt = 0, .len = 0};
	ck_assert(!disk_rw_progress(&r, 0, &result));
	ck_assert_int_eq(result, 0);
	/* An error ends it with that error. */
	r.transferred = 0;
	ck_assert(!disk_rw_progress(&r, -ENOSPC, &result));
	ck_assert_int_eq(result, -ENOSPC);

	/* Bounced: the caller's iovec stays whole, the window is the bounce rest. */
	iov[0] = (struct iovec){buf + 1, 512};
	r = (struct disk_request){
	    .op = DISK_OP_WRITE, .iov = iov, .iovcnt = 1, .len = 512, .bounce = bounce};
	ck_assert(disk_rw_progress(&r, 200, &result));
	ck_assert_ptr_eq(r.iov, iov);
	ck_assert_ptr_eq(iov[0].iov_base, buf + 1);
	disk_rw_window(&r, &one, &win, &cnt);
	ck_assert_ptr_eq(win, &one);
	ck_assert_uint_eq(cnt, 1);
	ck_assert_ptr_eq(one.iov_base, bounce + 200);
	ck_assert_uint_eq(one.iov_len, 312);
}
END_TEST

/* A read crossing the end of the file: the part before it is read, then
 * the retry finds nothing more; wholly past the end it fails at once. */
START_TEST(read_across_end_of_file)
{
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct treq t;

	td_make_image(8192);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	memset(buf, 0xee, sizeof(buf));
	ck_assert_int_eq(td_rw(DISK_OP_READ, 6144, &iov, 1, &t), -EIO);
	ck_assert_uint_eq(t.r.transferred, 2048);
	td_assert_pattern(buf, 6144, 2048);
	iov = (struct iovec){buf, sizeof(buf)};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 8192, &iov, 1, &t), -EIO);
	ck_assert_uint_eq(t.r.transferred, 0);
	td_close_disk();
}
END_TEST

/*
 * A write cut short: RLIMIT_FSIZE lets the first attempt write up to the
 * limit and no further; the backend goes on with the rest, which gets
 * EFBIG.  The whole request fails with that error, after the first part
 * reached the file.
 */
START_TEST(short_write_continues_to_the_error)
{
	const rlim_t limit = 10000;
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct rlimit old, lim;
	struct sigaction ign = {.sa_handler = SIG_IGN}, old_sa;
	struct treq t;

	td_make_image(8192);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	memset(buf, 0x5a, sizeof(buf));
	ck_assert_int_eq(getrlimit(RLIMIT_FSIZE, &old), 0);
	lim = (struct rlimit){.rlim_cur = limit, .rlim_max = old.rlim_max};
	ck_assert_int_eq(sigaction(SIGXFSZ, &ign, &old_sa), 0);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &lim), 0);
	ck_assert_int_eq(td_rw(DISK_OP_WRITE, 8192, &iov, 1, &t), -EFBIG);
	ck_assert_int_eq(setrlimit(RLIMIT_FSIZE, &old), 0);
	ck_assert_int_eq(sigaction(SIGXFSZ, &old_sa, NULL), 0);
	ck_assert_uint_eq(t.r.transferred, limit - 8192);
	ck_assert_int_eq(lseek(img_fd, 0, SEEK_END), (off_t)limit);
	td_assert_file(8192, buf, limit - 8192);
	td_close_disk();
}
END_TEST

/*
 * cache=none: aligned buffers go to O_DIRECT as they are; a misaligned
 * address or segment length is bounced (and still correct); a misaligned
 * offset cannot be bounced and fails in the kernel.
 */
START_TEST(direct_io_alignment_and_bounce)
{
	const struct disk_props *p;
	uint8_t *mem, *want;
	struct iovec iov[2];
	struct treq t;
	unsigned long bounced = 0;
	uint32_t bs;

	td_make_image(IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_NONE, false);
	p = disk_props(disk);
	bs = p->block_size;
	ck_assert(p->direct);
	ck_assert_str_eq(p->cache, "none");
	ck_assert_uint_ge(bs, 512);
	ck_assert_uint_eq(bs & (bs - 1), 0);
	ck_assert_uint_ge(p->mem_align, 1);
	ck_assert_int_eq(posix_memalign((void **)&mem, 4096, 4 * 8192), 0);
	want = malloc(8192);

	/* Aligned: no bounce. */
	iov[0] = (struct iovec){mem, 8192};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 8192, iov, 1, &t), 0);
	td_assert_pattern(mem, 8192, 8192);
	ck_assert_uint_eq(disk_counters(disk)->bounced, bounced);

	/* Misaligned address: bounced, same data. */
	iov[0] = (struct iovec){mem + 8192 + 1, 8192};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 8192, iov, 1, &t), 0);
	td_assert_pattern(mem + 8192 + 1, 8192, 8192);
	ck_assert_uint_eq(disk_counters(disk)->bounced, ++bounced);

	/* Aligned address, segment length not a multiple of the block size. */
	iov[0] = (struct iovec){mem, bs / 2};
	iov[1] = (struct iovec){mem + 4096, 8192 - bs / 2};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 0, iov, 2, &t), 0);
	td_assert_pattern(mem, 0, bs / 2);
	td_assert_pattern(mem + 4096, bs / 2, 8192 - bs / 2);
	ck_assert_uint_eq(disk_counters(disk)->bounced, ++bounced);

	/* A misaligned write: bounced, the file gets the caller's bytes. */
	for (unsigned int i = 0; i < 8192; i++)
		want[i] = mem[16384 + 3 + i] = (uint8_t)(i * 31 + 7);
	iov[0] = (struct iovec){mem + 16384 + 3, 8192};
	ck_assert_int_eq(td_rw(DISK_OP_WRITE, 32768, iov, 1, &t), 0);
	ck_assert_uint_eq(disk_counters(disk)->bounced, ++bounced);
	td_assert_file(32768, want, 8192);

	/* A misaligned offset: not bounced, refused by the kernel. */
	iov[0] = (struct iovec){mem, 8192};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 100, iov, 1, &t), -EINVAL);
	ck_assert_uint_eq(disk_counters(disk)->bounced, bounced);

	ck_assert_int_eq(td_range_op(DISK_OP_FLUSH, 0, 0, false), 0);
	free(want);
	free(mem);
	td_close_disk();
}
END_TEST

#define BIG_BYTES (3 * DISK_BOUNCE_CHUNK + 8192) /* more than three chunks */

/*
 * cache=none, a misaligned request larger than the bounce bound: read and
 * written byte-exact, through at most DISK_BOUNCE_CHUNK of bounce memory
 * (the bounce_peak_bytes gauge), which is all given back afterwards.
 */
START_TEST(direct_io_big_bounce_is_bounded)
{
	const struct disk_counters *c;
	uint8_t *mem, *want;
	struct iovec iov[2];
	struct treq t;
	const size_t first = DISK_BOUNCE_CHUNK + 4096; /* the segments straddle chunks */

	td_make_image(BIG_BYTES + 8192);
	td_open_disk(td_engine_of(_i), DISK_CACHE_NONE, false);
	c = disk_counters(disk);
	ck_assert_int_eq(posix_memalign((void **)&mem, 4096, BIG_BYTES + 4096), 0);
	want = malloc(BIG_BYTES);
	ck_assert_ptr_nonnull(want);

	/* Read: two misaligned segments. */
	iov[0] = (struct iovec){mem + 1, first};
	iov[1] = (struct iovec){mem + 1 + first + 7, BIG_BYTES - first};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 4096, iov, 2, &t), 0);
	ck_assert_uint_eq(t.r.transferred, BIG_BYTES);
	td_assert_pattern(mem + 1, 4096, first);
	td_assert_pattern(mem + 1 + first + 7, 4096 + first, BIG_BYTES - first);
	ck_assert_uint_eq(counter_get(&c->bounced), 1);
	ck_assert_uint_le(counter_get(&c->bounce_peak_bytes), DISK_BOUNCE_CHUNK);
	ck_assert_uint_eq(counter_get(&c->bounce_bytes), 0);

	/* Write: one misaligned segment, every byte reaches the file. */
	for (size_t i = 0; i < BIG_BYTES; i++)
		want[i] = mem[3 + i] = (uint8_t)(i * 29 + 11);
	iov[0] = (struct iovec){mem + 3, BIG_BYTES};
	ck_assert_int_eq(td_rw(DISK_OP_WRITE, 8192, iov, 1, &t), 0);
	ck_assert_uint_eq(t.r.transferred, BIG_BYTES);
	td_assert_file(8192, want, BIG_BYTES);
	ck_assert_uint_eq(counter_get(&c->bounced), 2);
	ck_assert_uint_le(counter_get(&c->bounce_peak_bytes), DISK_BOUNCE_CHUNK);
	ck_assert_uint_eq(counter_get(&c->bounce_bytes), 0);

	/* A bounced read across the end of the file: the chunks before it
	 * arrive, the rest fails with -EIO, how far it got is reported. */
	iov[0] = (struct iovec){mem + 5, BIG_BYTES};
	ck_assert_int_eq(td_rw(DISK_OP_READ, 2 * DISK_BOUNCE_CHUNK, iov, 1, &t), -EIO);
	ck_assert_uint_eq(t.r.transferred, BIG_BYTES + 8192 - 2 * DISK_BOUNCE_CHUNK);
	td_assert_file(2 * DISK_BOUNCE_CHUNK, mem + 5, DISK_BOUNCE_CHUNK);
	ck_assert_uint_le(counter_get(&c->bounce_peak_bytes), DISK_BOUNCE_CHUNK);
	ck_assert_uint_eq(counter_get(&c->bounce_bytes), 0);
	free(want);
	free(mem);
	td_close_disk();
}
END_TEST

/*
 * Many bounced requests at once on the ring: they hold no more than
 * DISK_BOUNCE_POOL_BYTES together (the rest wait their turn), and each
 * completes once, correct.
 */
#define POOL_REQS 12
static struct treq pool_req[POOL_REQS];
static struct iovec pool_iov[POOL_REQS];

static void td_on_go_pool(void *opaque)
{
	(void)opaque;
	for (unsigned int i = 0; i < POOL_REQS; i++)
		ck_assert_int_eq(disk_submit(disk, &pool_req[i].r), 0);
}

START_TEST(uring_bounce_pool_is_bounded)
{
	struct disk_config cfg = {
	    .path = img_path, .cache = DISK_CACHE_NONE, .engine = DISK_ENGINE_IO_URING};
	const struct disk_counters *c;
	unsigned int completed = 0;
	uint8_t *mem;

	td_make_image(POOL_REQS * DISK_BOUNCE_CHUNK);
	disk = disk_open(&cfg);
	ck_assert_ptr_nonnull(disk);
	c = disk_counters(disk);
	io = iothread_create("test-disk", 64);
	go_fd = eventfd(0, EFD_CLOEXEC);
	done_fd = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_eq(iothread_watch_eventfd(io, go_fd, td_on_go_pool, NULL), 0);
	disk_use_iothread(disk, io);
	ck_assert_int_eq(
	    posix_memalign((void **)&mem, 4096, POOL_REQS * (DISK_BOUNCE_CHUNK + 4096)), 0);
	for (unsigned int i = 0; i < POOL_REQS; i++) {
		/* Every other one two chunks long, every one misaligned. */
		uint64_t len = (i % 2 + 1) * (uint64_t)DISK_BOUNCE_CHUNK / 2;

		pool_iov[i] = (struct iovec){mem + i * (DISK_BOUNCE_CHUNK + 4096) + 1, len};
		pool_req[i] = (struct treq){.r = {.op = DISK_OP_READ,
						  .iov = &pool_iov[i],
						  .iovcnt = 1,
						  .offset = (uint64_t)i * DISK_BOUNCE_CHUNK,
						  .len = len,
						  .done = td_on_batch_done}};
	}
	ck_assert_int_eq(iothread_start(io), 0);
	ck_assert_int_eq(write(go_fd, &(uint64_t){1}, 8), 8);
	while (completed < POOL_REQS) {
		struct pollfd p = {.fd = done_fd, .events = POLLIN};
		uint64_t v;

		ck_assert_msg(poll(&p, 1, 10000) == 1, "bounced requests did not complete");
		ck_assert_int_eq(read(done_fd, &v, sizeof(v)), sizeof(v));
		completed += (unsigned int)v;
	}
	iothread_stop(io);
	for (unsigned int i = 0; i < POOL_REQS; i++) {
		ck_assert_int_eq(pool_req[i].result, 0);
		ck_assert_int_eq(atomic_load(&pool_req[i].calls), 1);
		td_assert_pattern(pool_iov[i].iov_base, (uint64_t)i * DISK_BOUNCE_CHUNK,
				  pool_iov[i].iov_len);
	}
	ck_assert_uint_eq(counter_get(&c->bounced), POOL_REQS);
	ck_assert_uint_ge(counter_get(&c->bounce_waits), 1);
	ck_assert_uint_le(counter_get(&c->bounce_peak_bytes), DISK_BOUNCE_POOL_BYTES);
	ck_assert_uint_eq(counter_get(&c->bounce_bytes), 0);
	free(mem);
	td_close_disk();
}
END_TEST

/* Without O_DIRECT nothing is ever bounced. */
START_TEST(writeback_never_bounces)
{
	uint8_t buf[1024];
	struct iovec iov = {buf + 1, 700};
	struct treq t;

	td_make_image(IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	ck_assert_int_eq(td_rw(DISK_OP_READ, 3, &iov, 1, &t), 0);
	td_assert_pattern(buf + 1, 3, 700);
	ck_assert_uint_eq(disk_counters(disk)->bounced, 0);
	td_close_disk();
}
END_TEST

/* A write marked alone, run once: was it done inside disk_submit()? */
static bool td_alone_write_inline(enum disk_op op, void *buf, size_t len, bool alone)
{
	struct iovec iov = {buf, len};
	struct treq t = {.r = {.op = op, .iov = &iov, .iovcnt = 1, .offset = 4096, .len = len}};

	t.r.alone = alone;
	ck_assert_int_eq(td_run(&t), 0);
	ck_assert_int_eq(t.result, 0);
	return done_in_submit;
}

/*
 * io_uring: a lone buffered write runs at once on the I/O thread
 * (disk_request.alone); a write with company, a read, or an O_DIRECT write
 * still goes through the ring.
 */
START_TEST(uring_lone_buffered_write_is_inline)
{
	uint8_t *buf;

	ck_assert_int_eq(posix_memalign((void **)&buf, 4096, 4096), 0);
	memset(buf, 0x5a, 4096);
	td_make_image(IMG_BYTES);
	td_open_disk(DISK_ENGINE_IO_URING, DISK_CACHE_WRITEBACK, false);
	ck_assert(td_alone_write_inline(DISK_OP_WRITE, buf, 4096, true));
	ck_assert_uint_eq(disk_counters(disk)->writes_inline, 1);
	td_assert_file(4096, buf, 4096);
	ck_assert(!td_alone_write_inline(DISK_OP_WRITE, buf, 4096, false));
	ck_assert(!td_alone_write_inline(DISK_OP_READ, buf, 4096, true));
	ck_assert_uint_eq(disk_counters(disk)->writes_inline, 1);
	td_close_disk();

	td_make_image(IMG_BYTES);
	td_open_disk(DISK_ENGINE_IO_URING, DISK_CACHE_NONE, false);
	ck_assert(!td_alone_write_inline(DISK_OP_WRITE, buf, 4096, true));
	ck_assert_uint_eq(disk_counters(disk)->writes_inline, 0);
	td_close_disk();
	free(buf);
}
END_TEST

/* A read-only disk: reads work, writes and hole punching fail on the host. */
START_TEST(read_only_disk_errors)
{
	uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct treq t;

	td_make_image(IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, true);
	ck_assert(disk_props(disk)->read_only);
	ck_assert_int_eq(td_rw(DISK_OP_READ, 512, &iov, 1, &t), 0);
	ck_assert_int_eq(td_rw(DISK_OP_WRITE, 512, &iov, 1, &t), -EBADF);
	ck_assert_uint_eq(t.r.transferred, 0);
	ck_assert_int_eq(td_range_op(DISK_OP_DISCARD, 0, 4096, false), -EBADF);
	ck_assert_int_eq(td_range_op(DISK_OP_WRITE_ZEROES, 0, 4096, false), -EBADF);
	td_assert_pattern(buf, 512, sizeof(buf));
	td_close_disk();
}
END_TEST

/* Requests refused before any I/O: no completion, the caller keeps them. */
START_TEST(submit_refusals)
{
	struct disk_config cfg = {.path = img_path, .engine = DISK_ENGINE_IO_URING};
	uint8_t buf[512];
	struct iovec iov = {buf, sizeof(buf)};
	struct treq t;

	td_make_image(IMG_BYTES);
	td_open_disk(td_engine_of(_i), DISK_CACHE_WRITEBACK, false);
	t = (struct treq){.r = {.op = (enum disk_op)99, .len = 512}};
	ck_assert_int_eq(td_run(&t), -EINVAL);
	t = (struct treq){
	    .r = {.op = DISK_OP_READ, .iov = &iov, .iovcnt = 1, .len = (uint64_t)UINT32_MAX + 1}};
	ck_assert_int_eq(td_run(&t), -EINVAL);
	td_close_disk();

	/* An io_uring disk that was never given its I/O thread. */
	td_make_image(IMG_BYTES);
	disk = disk_open(&cfg);
	ck_assert_ptr_nonnull(disk);
	t = (struct treq){
	    .r = {.op = DISK_OP_READ, .iov = &iov, .iovcnt = 1, .len = 512, .done = td_on_done}};
	ck_assert_int_eq(disk_submit(disk, &t.r), -EINVAL);
	ck_assert_int_eq(atomic_load(&t.calls), 0);
	disk_close(disk);
	close(img_fd);
	unlink(img_path);
}
END_TEST

START_TEST(open_errors)
{
	struct disk_config cfg = {.path = "/nonexistent/disk.img"};

	errno = 0;
	ck_assert_ptr_null(disk_open(&cfg));
	ck_assert_int_eq(errno, ENOENT);

	/* Smaller than one sector. */
	td_make_image(100);
	cfg.path = img_path;
	errno = 0;
	ck_assert_ptr_null(disk_open(&cfg));
	ck_assert_int_eq(errno, EINVAL);
	/* A partial last sector is fine (the caller sees whole sectors). */
	ck_assert_int_eq(ftruncate(img_fd, 1000), 0);
	disk = disk_open(&cfg);
	ck_assert_ptr_nonnull(disk);
	ck_assert_uint_eq(disk_props(disk)->size, 1000);
	disk_close(disk);
	close(img_fd);
	unlink(img_path);

	/* cache=none on a file that cannot do O_DIRECT (tmpfs can, these
	 * days; procfs cannot). */
	cfg = (struct disk_config){
	    .path = "/proc/self/status", .read_only = true, .cache = DISK_CACHE_NONE};
	errno = 0;
	ck_assert_ptr_null(disk_open(&cfg));
	ck_assert_int_eq(errno, EINVAL);
}
END_TEST

/*
 * The image lock (OFD, on the descriptor that does the I/O): a writable
 * disk excludes every other user of the image, a read-only one only
 * writers.  OFD locks conflict between open file descriptions even in one
 * process, so two disk_open()s here stand for two minivmm processes.  The
 * loop runs it with cache=writeback and cache=none (O_DIRECT).
 */
static struct disk *td_open_locked(bool ro, enum disk_cache cache)
{
	struct disk_config cfg = {.path = img_path, .read_only = ro, .cache = cache};

	errno = 0;
	return disk_open(&cfg);
}

/* What another process would find: the lock type held on the image. */
static short td_lock_held(void)
{
	struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET};
	int fd = open(img_path, O_RDWR | O_CLOEXEC);

	ck_assert_int_ge(fd, 0);
	ck_assert_int_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type;
}

START_TEST(image_lock)
{
	enum disk_cache cache = _i ? DISK_CACHE_NONE : DISK_CACHE_WRITEBACK;
	struct disk *a, *b;

	td_make_image(IMG_BYTES);
	ck_assert_int_eq(td_lock_held(), F_UNLCK);

	/* rw + rw: the second is refused with EBUSY. */
	a = td_open_locked(false, cache);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(td_lock_held(), F_WRLCK);
	ck_assert_ptr_null(td_open_locked(false, cache));
	ck_assert_int_eq(errno, EBUSY);
	/* rw + ro: a reader is refused too (the writer changes what it reads). */
	ck_assert_ptr_null(td_open_locked(true, cache));
	ck_assert_int_eq(errno, EBUSY);
	/* Closing releases the lock at once. */
	disk_close(a);
	ck_assert_int_eq(td_lock_held(), F_UNLCK);

	/* ro + ro: readers share; a writer is refused while either holds it. */
	a = td_open_locked(true, cache);
	ck_assert_ptr_nonnull(a);
	ck_assert_int_eq(td_lock_held(), F_RDLCK);
	b = td_open_locked(true, cache);
	ck_assert_ptr_nonnull(b);
	ck_assert_ptr_null(td_open_locked(false, cache));
	ck_assert_int_eq(errno, EBUSY);
	disk_close(a);
	ck_assert_ptr_null(td_open_locked(false, cache));
	ck_assert_int_eq(errno, EBUSY);
	disk_close(b);
	ck_assert_int_eq(td_lock_held(), F_UNLCK);

	/* Nothing left behind: a writer gets it now. */
	a = td_open_locked(false, cache);
	ck_assert_ptr_nonnull(a);
	disk_close(a);
	close(img_fd);
	unlink(img_path);
}
END_TEST

/* Multi-queue: a second I/O thread, bound as queue 1, submits on its own ring. */
static pthread_t td_io2_thread;

static void td_on_done_q1(struct disk_request *r, int result)
{
	struct treq *t = container_of(r, struct treq, r);
	uint64_t one = 1;

	t->result = result;
	t->on_test_thread = pthread_equal(pthread_self(), td_io2_thread); /* here: on thread 2 */
	atomic_fetch_add(&t->calls, 1);
	ck_assert_int_eq(write(done_fd, &one, sizeof(one)), sizeof(one));
}

static void td_on_go_q1(void *opaque)
{
	uint64_t one = 1;

	(void)opaque;
	td_io2_thread = pthread_self();
	pending_submit = disk_submit_on(disk, 1, &pending->r);
	if (pending_submit)
		ck_assert_int_eq(write(done_fd, &one, sizeof(one)), sizeof(one));
}

START_TEST(uring_second_thread_queue)
{
	struct pollfd p = {.events = POLLIN};
	uint8_t buf[4096];
	struct iovec iov = {buf, sizeof(buf)};
	struct treq t = {.r = {.op = DISK_OP_READ,
			       .iov = &iov,
			       .iovcnt = 1,
			       .offset = 8192,
			       .len = sizeof(buf),
			       .done = td_on_done_q1}};
	struct iothread *io2;
	uint64_t one = 1, v;
	int go2;

	td_make_image(IMG_BYTES);
	td_open_disk(DISK_ENGINE_IO_URING, DISK_CACHE_WRITEBACK, false); /* io: queue 0 */
	io2 = iothread_create("test-disk2", 64);
	ck_assert_ptr_nonnull(io2);
	go2 = eventfd(0, EFD_CLOEXEC);
	ck_assert_int_ge(go2, 0);
	ck_assert_int_eq(iothread_watch_eventfd(io2, go2, td_on_go_q1, NULL), 0);
	ck_assert_int_eq(disk_use_iothread(disk, io2), 1);
	ck_assert_int_eq(iothread_start(io2), 0);
	pending = &t;
	ck_assert_int_eq(write(go2, &one, sizeof(one)), sizeof(one));
	p.fd = done_fd;
	ck_assert_msg(poll(&p, 1, 10000) == 1, "no completion within 10 s");
	ck_assert_int_eq(read(done_fd, &v, sizeof(v)), sizeof(v));
	ck_assert_int_eq(pending_submit, 0);
	ck_assert_int_eq(t.result, 0);
	ck_assert_int_eq(atomic_load(&t.calls), 1);
	ck_assert(t.on_test_thread); /* completed on thread 2, from its ring */
	for (unsigned int i = 0; i < sizeof(buf); i++)
		ck_assert_uint_eq(buf[i], disk_image_byte(8192 + i));
	/* Queues that were never bound. */
	ck_assert_int_eq(disk_submit_on(disk, 2, &t.r), -EINVAL);
	ck_assert_int_eq(disk_submit_on(disk, -1, &t.r), -EINVAL);
	iothread_destroy(io2);
	close(go2);
	td_close_disk();
}
END_TEST

Suite *disk_suite(void)
{
	Suite *s = suite_create("disk");
	/* The tests of one engine or of none. */
	TCase *tc = unit_tcase(s, "backend", NULL, NULL,
			       UNIT_TESTS(uring_batch, short_transfer_policy, open_errors,
					  uring_bounce_pool_is_bounded, uring_second_thread_queue,
					  uring_lone_buffered_write_is_inline));

	tcase_set_timeout(tc, 30);
	/* _i: 0 = cache=writeback, 1 = cache=none. */
	unit_loop_tests(tc, 2, UNIT_TESTS(image_lock));
	/* _i: 0 = io_uring engine, 1 = sync engine. */
	unit_loop_tests(tc, 2,
			UNIT_TESTS(each_op, read_across_end_of_file,
				   short_write_continues_to_the_error,
				   direct_io_alignment_and_bounce, direct_io_big_bounce_is_bounded,
				   writeback_never_bounces, read_only_disk_errors, submit_refusals,
				   write_zeroes_without_zero_range));
	return s;
}

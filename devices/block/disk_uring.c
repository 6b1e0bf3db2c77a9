/*
 * The io_uring engine: each request is one SQE on the I/O thread's ring
 * (iothread_get_sqe), submitted with the thread's next io_uring_enter along
 * with the rest of its batch; the completion comes back through the same
 * ring.  Guest buffers go to the kernel as they are (readv/writev on the
 * caller's iovec), bounced ones as one plain read/write.  Each bound
 * thread's ring knows the image as a registered file (its queue's io_file)
 * and allows only the opcodes below (disk_uring_use_iothread).
 */
#include <errno.h>
#include <fcntl.h>
#include <string.h>

#include "devices/block/disk_engine.h"
#include "log.h"
#include "util.h"

static void disk_uring_prep_rw(struct io_uring_sqe *sqe, int file, struct disk_request *r)
{
	uint64_t at = r->offset + r->transferred;
	bool read = r->op == DISK_OP_READ;
	struct iovec one, *iov;
	unsigned int cnt;

	disk_rw_window(r, &one, &iov, &cnt);
	if (iov == &one) {
		/* Bounced: the rest of the chunk, one plain buffer. */
		if (read)
			io_uring_prep_read(sqe, file, one.iov_base, (unsigned int)one.iov_len, at);
		else
			io_uring_prep_write(sqe, file, one.iov_base, (unsigned int)one.iov_len, at);
	} else if (read) {
		io_uring_prep_readv(sqe, file, iov, cnt, at);
	} else {
		io_uring_prep_writev(sqe, file, iov, cnt, at);
	}
}

static int disk_uring_submit(struct disk *d, struct disk_request *r)
{
	struct io_uring_sqe *sqe = iothread_get_sqe(r->queue->io, &r->uring_op);
	int file = r->queue->io_file;

	(void)d;
	if (!sqe)
		return -EBUSY;
	switch (r->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		disk_uring_prep_rw(sqe, file, r);
		break;
	case DISK_OP_FLUSH:
		/* Not IOSQE_IO_DRAIN: that would also wait for the eventfd
		 * reads that stay pending on this ring.  A caller that needs a
		 * barrier waits for earlier requests before submitting. */
		io_uring_prep_fsync(sqe, file, IORING_FSYNC_DATASYNC);
		break;
	default:
		io_uring_prep_fallocate(sqe, file, disk_fallocate_mode(r), r->offset, r->len);
		break;
	}
	iothread_sqe_fixed(sqe);
	return 0;
}

/* In the I/O thread: one SQE of r completed with res. */
static void disk_uring_done(struct iothread_op *op, int res, uint32_t cqe_flags)
{
	struct disk_request *r = container_of(op, struct disk_request, uring_op);
	int result = res;

	(void)cqe_flags;
	if ((r->op == DISK_OP_READ || r->op == DISK_OP_WRITE) &&
	    disk_rw_progress(r, res, &result)) {
		result = disk_uring_submit(r->disk, r);
		if (result == 0)
			return; /* the rest is on its way */
	}
	disk_complete(r, result);
}

/*
 * The image joins io's file table, with the opcodes of every request.  A
 * read-only image gets the write opcodes too: its file is open O_RDONLY, so
 * the kernel refuses them with -EBADF, as the sync engine's pwritev.
 */
static int disk_uring_use_iothread(struct disk *d, struct disk_queue *q)
{
	struct iothread *io = q->io;
	static const unsigned int ops[] = {IORING_OP_READ,   IORING_OP_READV, IORING_OP_WRITE,
					   IORING_OP_WRITEV, IORING_OP_FSYNC, IORING_OP_FALLOCATE};
	int ret = iothread_register_file(io, d->fd);

	if (ret >= 0) {
		q->io_file = ret;
		ret = 0;
	}
	for (unsigned int i = 0; i < ARRAY_SIZE(ops) && !ret; i++)
		ret = iothread_allow_op(io, ops[i]);
	if (ret)
		log_error("disk: cannot use the I/O thread's io_uring: %s%s", strerror(-ret),
			  ret == -EBUSY ? " (its ring is sealed already)" : "");
	return ret;
}

static int disk_uring_start(struct disk *d, struct disk_request *r)
{
	/* Bounced requests are O_DIRECT ones, which io_uring runs asynchronously. */
	if (r->alone && r->op == DISK_OP_WRITE && !d->props.direct && !r->bounce) {
		counter_add(&d->counters.writes_inline, 1);
		disk_complete(r, disk_sync_rw(d, r));
		return 0;
	}
	r->uring_op.done = disk_uring_done;
	return disk_uring_submit(d, r);
}

const struct disk_engine_ops disk_uring_engine = {
    .name = "io_uring",
    .inline_completion = false,
    .needs_iothread = true,
    .use_iothread = disk_uring_use_iothread,
    .submit = disk_uring_start,
};

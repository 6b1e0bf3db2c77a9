/*
 * The sync engine: each request runs to its end on the calling thread with
 * the plain system calls, and completes before disk_submit() returns.
 */
#include <errno.h>
#include <fcntl.h>
#include <unistd.h>

#include "devices/block/disk_engine.h"

/* disk_engine.h: the whole read or write, attempt after attempt (disk_rw_progress). */
int disk_sync_rw(struct disk *d, struct disk_request *r)
{
	int result;
	ssize_t res;

	do {
		struct iovec one, *iov;
		unsigned int cnt;
		off_t at = (off_t)(r->offset + r->transferred);

		disk_rw_window(r, &one, &iov, &cnt);
		if (r->op == DISK_OP_READ)
			res = preadv(d->fd, iov, (int)cnt, at);
		else
			res = pwritev(d->fd, iov, (int)cnt, at);
		if (res < 0)
			res = -errno;
	} while (disk_rw_progress(r, res, &result));
	return result;
}

static int disk_sync_submit(struct disk *d, struct disk_request *r)
{
	int result;

	switch (r->op) {
	case DISK_OP_READ:
	case DISK_OP_WRITE:
		result = disk_sync_rw(d, r);
		break;
	case DISK_OP_FLUSH:
		result = fdatasync(d->fd) ? -errno : 0;
		break;
	default:
		result = fallocate(d->fd, disk_fallocate_mode(r), (off_t)r->offset, (off_t)r->len)
			     ? -errno
			     : 0;
		break;
	}
	disk_complete(r, result);
	return 0;
}

const struct disk_engine_ops disk_sync_engine = {
    .name = "sync",
    .inline_completion = true,
    .submit = disk_sync_submit,
};

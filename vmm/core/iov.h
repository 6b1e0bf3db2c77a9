/*
 * Byte copies across iovec arrays: the scatter-gather lists that virtqueue
 * chains, disk requests and tap frames are described by.
 */
#ifndef MINIVMM_IOV_H
#define MINIVMM_IOV_H

#include <stddef.h>
#include <stdint.h>
#include <sys/uio.h>

/* Byte-copy helpers across an iovec array (for headers and status bytes). */
size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t offset, void *buf, size_t len);
size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t offset, const void *buf,
		    size_t len);

/*
 * Describe in dst (room for cnt entries) the bytes of iov that start offset
 * bytes in; returns the number of entries written.
 */
unsigned int iov_tail(struct iovec *dst, const struct iovec *iov, unsigned int cnt, size_t offset);

/*
 * Advance the array past its first n bytes, in place: whole entries are
 * dropped (*iov and *cnt move on) and the first remaining one is shortened.
 * The short-transfer policy of the disk backend continues with it, and
 * virtio-blk cuts its request header off the data with it.
 */
void iov_skip(struct iovec **iov, unsigned int *cnt, uint64_t n);

#endif

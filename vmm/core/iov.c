#include "iov.h"

#include <stdbool.h>
#include <stdint.h>
#include <string.h>

/* Copies between buf and the bytes of iov that start offset bytes in,
 * in the direction to_iov says; returns how many bytes it copied. */
static size_t iov_copy(const struct iovec *iov, unsigned int cnt, size_t offset, uint8_t *buf,
		       size_t len, bool to_iov)
{
	size_t done = 0;

	for (unsigned int i = 0; i < cnt && done < len; i++) {
		uint8_t *seg = iov[i].iov_base;
		size_t n;

		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		n = iov[i].iov_len - offset;
		if (n > len - done)
			n = len - done;
		if (to_iov)
			memcpy(seg + offset, buf + done, n);
		else
			memcpy(buf + done, seg + offset, n);
		done += n;
		offset = 0;
	}
	return done;
}

size_t iov_to_buf(const struct iovec *iov, unsigned int cnt, size_t offset, void *buf, size_t len)
{
	return iov_copy(iov, cnt, offset, buf, len, false);
}

size_t iov_from_buf(const struct iovec *iov, unsigned int cnt, size_t offset, const void *buf,
		    size_t len)
{
	/* buf is only read in this direction. */
	return iov_copy(iov, cnt, offset, (uint8_t *)buf, len, true);
}

unsigned int iov_tail(struct iovec *dst, const struct iovec *iov, unsigned int cnt, size_t offset)
{
	unsigned int n = 0;

	for (unsigned int i = 0; i < cnt; i++) {
		if (offset >= iov[i].iov_len) {
			offset -= iov[i].iov_len;
			continue;
		}
		dst[n].iov_base = (uint8_t *)iov[i].iov_base + offset;
		dst[n].iov_len = iov[i].iov_len - offset;
		offset = 0;
		n++;
	}
	return n;
}

void iov_skip(struct iovec **iov, unsigned int *cnt, uint64_t n)
{
	while (*cnt && n >= (*iov)[0].iov_len) {
		n -= (*iov)[0].iov_len;
		(*iov)++;
		(*cnt)--;
	}
	if (*cnt && n) {
		(*iov)[0].iov_base = (uint8_t *)(*iov)[0].iov_base + n;
		(*iov)[0].iov_len -= n;
	}
}

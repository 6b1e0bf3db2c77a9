/*
 * The Internet checksum (RFC 1071) written out the plain way, for the tests
 * that check checksums a device or devices/net/offload.c wrote: computed
 * here, independently of the code under test.
 */
#ifndef MINIVMM_TEST_NET_CSUM_H
#define MINIVMM_TEST_NET_CSUM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* sum plus the big-endian 16-bit words of p; an odd last byte is the high half of a word. */
static inline uint32_t ref_csum_add(const uint8_t *p, size_t len, uint32_t sum)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)(p[i] << 8 | p[i + 1]);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

/* The carries folded back in, to 16 bits (ones' complement addition). */
static inline uint16_t ref_csum_fold(uint32_t s)
{
	while (s >> 16)
		s = (s & 0xffff) + (s >> 16);
	return (uint16_t)s;
}

/* A header, payload or whole segment whose checksum is right sums to 0xffff. */
static inline bool ref_csum_ok(const uint8_t *p, size_t len, uint32_t extra)
{
	return ref_csum_fold(ref_csum_add(p, len, extra)) == 0xffff;
}

#endif

/*
 * The disk image of the block tests: a temporary file whose every byte is
 * known in advance, so a read can be checked against disk_image_byte().
 */
#ifndef MINIVMM_TEST_DISK_IMAGE_H
#define MINIVMM_TEST_DISK_IMAGE_H

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <sys/types.h>
#include <unistd.h>

#include "helpers.h"

/* Changes from sector to sector and, with a period of 251, within one. */
static inline uint8_t disk_image_byte(uint64_t offset)
{
	return (uint8_t)((offset / 512) * 7 + offset % 251);
}

/*
 * Creates dir/minivmm-TAG-XXXXXX holding bytes bytes of disk_image_byte()
 * and returns its descriptor; the name goes to path (size bytes).  The
 * caller closes and unlinks it.
 */
static inline int disk_image_create(const char *dir, const char *tag, char *path, size_t size,
				    size_t bytes)
{
	int fd = unit_temp_file_in(dir, tag, path, size);
	uint8_t *buf = malloc(bytes);

	ck_assert_ptr_nonnull(buf);
	for (size_t i = 0; i < bytes; i++)
		buf[i] = disk_image_byte(i);
	ck_assert_int_eq(pwrite(fd, buf, bytes, 0), (ssize_t)bytes);
	free(buf);
	return fd;
}

#endif

/* Small text files (/proc, /sys, tracefs) read whole into a buffer, or written whole. */
#ifndef MINIVMM_TEXT_FILE_H
#define MINIVMM_TEXT_FILE_H

#include <stddef.h>
#include <sys/types.h>

/*
 * Read path into buf, at most size - 1 bytes, NUL-terminated (on failure
 * too: then buf is "").  Returns the length read or -errno.  Files of
 * /proc may come in several reads; they are all taken.
 */
ssize_t text_file_read(const char *path, char *buf, size_t size);

/*
 * Write all of the string text to fd, continuing after short writes and
 * EINTR.  0, or -errno (-EIO when a write moves nothing).
 */
int text_file_write_all(int fd, const char *text);

#endif

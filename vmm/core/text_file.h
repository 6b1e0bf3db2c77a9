/* Small text files (/proc, /sys, tracefs) read whole into a buffer. */
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

#endif

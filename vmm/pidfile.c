/*
 * --pidfile (pidfile.h).  Written first thing at start-up, before the VM is
 * set up, so that an unwritable path stops minivmm before anything runs and
 * a supervisor can find the process during a long start-up; whether the VM
 * runs yet is the control socket's "status" to say.
 */
#include "pidfile.h"

#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "log.h"
#include "text_file.h"

static char *pidfile_path;    /* to remove at exit */
static char pidfile_text[24]; /* what we wrote */

static void pidfile_remove(void)
{
	char buf[sizeof(pidfile_text)];
	ssize_t n;
	int fd;

	if (!pidfile_path)
		return;
	/* Only our own: another process may have written the path since. */
	fd = open(pidfile_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	if (n >= 0 && (size_t)n == strlen(pidfile_text) && !memcmp(buf, pidfile_text, (size_t)n))
		unlink(pidfile_path);
	free(pidfile_path);
	pidfile_path = NULL;
}

int pidfile_write(const char *path)
{
	char *tmp = NULL, *copy;
	int fd, err = 0;

	snprintf(pidfile_text, sizeof(pidfile_text), "%d\n", (int)getpid());
	if (asprintf(&tmp, "%s.XXXXXX", path) < 0) {
		log_error("--pidfile %s: out of memory", path);
		return -1;
	}
	fd = mkstemp(tmp);
	if (fd < 0) {
		copy = strdup(path);
		log_error("--pidfile %s: cannot create a file in %s: %s", path,
			  copy ? dirname(copy) : "its directory", strerror(errno));
		free(copy);
		free(tmp);
		return -1;
	}
	/* mkstemp makes it 0600; a pidfile is for anyone to read. */
	if (text_file_write_all(fd, pidfile_text) < 0 || fchmod(fd, 0644) < 0)
		err = errno ? errno : EIO;
	if (close(fd) < 0 && !err)
		err = errno;
	if (!err && rename(tmp, path) < 0)
		err = errno;
	if (err) {
		log_error("--pidfile %s: %s", path, strerror(err));
		unlink(tmp);
		free(tmp);
		return -1;
	}
	free(tmp);
	pidfile_path = strdup(path);
	atexit(pidfile_remove);
	return 0;
}

/* --pidfile PATH: minivmm's process ID in a file for as long as it runs. */
#ifndef MINIVMM_PIDFILE_H
#define MINIVMM_PIDFILE_H

/*
 * Write "PID\n" to path (a temporary file in the same directory renamed over
 * it: a reader never sees it empty) and remove it at exit if it still holds
 * our PID.  0, or -1 with the reason logged ("--pidfile PATH: why").
 */
int pidfile_write(const char *path);

#endif

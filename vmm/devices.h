/* Creating the devices the command line asks for (disks, NICs). */
#ifndef MINIVMM_DEVICES_H
#define MINIVMM_DEVICES_H

struct vm;

/* Create every --disk and --net device; 0 or -1 after logging why. */
int devices_create(struct vm *vm);

/*
 * Stop and free what devices_create() made, once the vCPUs are stopped: each
 * I/O thread cancels and reaps its in-flight I/O, so the taps and disk
 * images are released before minivmm exits (a tap held by an io_uring
 * request being torn down in the background would still be busy for the
 * next VM started on it).
 */
void devices_destroy(void);

#endif

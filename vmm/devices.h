/* Creating the devices the command line asks for (disks, NICs). */
#ifndef MINIVMM_DEVICES_H
#define MINIVMM_DEVICES_H

struct vm;

/* Create every --disk and --net device; 0 or -1 after logging why. */
int devices_create(struct vm *vm);

#endif

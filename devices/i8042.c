/*
 * i8042 keyboard controller with nothing plugged in.
 *
 * Linux reboots (reboot=k, and as a fallback of the default method) by
 * pulsing the reset line through command 0xFE; that is this device's job.
 * The commands Linux's i8042 driver issues while probing get the answers of
 * a healthy controller, so probing ends quickly with "no keyboard" instead
 * of timeouts.  No interrupts are generated: there are no devices to
 * produce input.
 */
#include "i8042.h"

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>

#include "arch/layout.h"
#include "log.h"
#include "vm.h"

#define STATUS_OBF	0x01 /* output buffer full */
#define STATUS_SYS	0x04 /* system flag: self-test passed */
#define STATUS_CMD	0x08 /* last write went to the command port */
#define STATUS_UNLOCKED 0x10 /* keyboard not inhibited */
#define STATUS_AUX_OBF	0x20 /* output byte comes from the aux port */

#define CTR_SYS		0x04
#define CTR_KBD_DISABLE 0x10
#define CTR_AUX_DISABLE 0x20
#define CTR_XLATE	0x40

#define OUTPORT_RESET 0x01 /* low: CPU held in reset */
#define OUTPORT_A20   0x02

#define CMD_READ_RAM	  0x20 /* 0x20-0x3f; RAM byte 0 is the command byte */
#define CMD_WRITE_RAM	  0x60 /* 0x60-0x7f, then a data byte */
#define CMD_AUX_DISABLE	  0xa7
#define CMD_AUX_ENABLE	  0xa8
#define CMD_AUX_TEST	  0xa9
#define CMD_SELF_TEST	  0xaa
#define CMD_KBD_TEST	  0xab
#define CMD_KBD_DISABLE	  0xad
#define CMD_KBD_ENABLE	  0xae
#define CMD_READ_INPORT	  0xc0
#define CMD_READ_OUTPORT  0xd0
#define CMD_WRITE_OUTPORT 0xd1
#define CMD_WRITE_KBD_OUT 0xd2 /* echo a byte as if typed */
#define CMD_WRITE_AUX_OUT 0xd3 /* echo a byte as if from the mouse */
#define CMD_WRITE_AUX	  0xd4 /* send a byte to the (absent) mouse */
#define CMD_PULSE_BASE	  0xf0 /* 0xf0-0xff: pulse output lines whose bit is 0 */

#define SELF_TEST_OK	  0x55
#define INTERFACE_TEST_OK 0x00

#define OUT_QUEUE_SIZE 16
#define RAM_SIZE       32

struct i8042 {
	pthread_mutex_t lock;
	struct vm *vm;
	uint8_t ram[RAM_SIZE]; /* ram[0] is the controller command byte */
	uint8_t outport;
	uint8_t pending_cmd; /* command waiting for its data byte, or 0 */
	bool last_was_cmd;
	uint8_t last_out; /* data port value once the queue is empty */
	struct {
		uint8_t byte;
		bool aux;
	} out[OUT_QUEUE_SIZE];
	unsigned int out_head, out_count;
};

static void queue_output(struct i8042 *k, uint8_t byte, bool aux)
{
	/* A guest that never reads can only lose replies, not overflow. */
	if (k->out_count == OUT_QUEUE_SIZE)
		return;
	k->out[(k->out_head + k->out_count) % OUT_QUEUE_SIZE].byte = byte;
	k->out[(k->out_head + k->out_count) % OUT_QUEUE_SIZE].aux = aux;
	k->out_count++;
}

static void pulse_reset(struct i8042 *k)
{
	log_debug("i8042: reset requested by the guest");
	vm_request_stop(k->vm, VM_STOP_RESET, 0);
}

static void write_command(struct i8042 *k, uint8_t cmd)
{
	k->pending_cmd = 0;
	if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + RAM_SIZE) {
		queue_output(k, k->ram[cmd - CMD_READ_RAM], false);
		return;
	}
	if ((cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE) || cmd == CMD_WRITE_OUTPORT ||
	    cmd == CMD_WRITE_KBD_OUT || cmd == CMD_WRITE_AUX_OUT || cmd == CMD_WRITE_AUX) {
		k->pending_cmd = cmd;
		return;
	}
	if (cmd >= CMD_PULSE_BASE) {
		if (!(cmd & OUTPORT_RESET))
			pulse_reset(k);
		return;
	}
	switch (cmd) {
	case CMD_AUX_DISABLE:
		k->ram[0] |= CTR_AUX_DISABLE;
		break;
	case CMD_AUX_ENABLE:
		k->ram[0] &= ~CTR_AUX_DISABLE;
		break;
	case CMD_AUX_TEST:
	case CMD_KBD_TEST:
		queue_output(k, INTERFACE_TEST_OK, false);
		break;
	case CMD_SELF_TEST:
		k->ram[0] |= CTR_SYS;
		queue_output(k, SELF_TEST_OK, false);
		break;
	case CMD_KBD_DISABLE:
		k->ram[0] |= CTR_KBD_DISABLE;
		break;
	case CMD_KBD_ENABLE:
		k->ram[0] &= ~CTR_KBD_DISABLE;
		break;
	case CMD_READ_INPORT:
		queue_output(k, 0x00, false);
		break;
	case CMD_READ_OUTPORT:
		queue_output(k, k->outport, false);
		break;
	default:
		log_debug("i8042: ignoring command 0x%02x", cmd);
		break;
	}
}

static void write_data(struct i8042 *k, uint8_t val)
{
	uint8_t cmd = k->pending_cmd;

	k->pending_cmd = 0;
	if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + RAM_SIZE) {
		k->ram[cmd - CMD_WRITE_RAM] = val;
		return;
	}
	switch (cmd) {
	case CMD_WRITE_OUTPORT:
		k->outport = val;
		if (!(val & OUTPORT_RESET))
			pulse_reset(k);
		break;
	case CMD_WRITE_KBD_OUT:
		queue_output(k, val, false);
		break;
	case CMD_WRITE_AUX_OUT:
		queue_output(k, val, true);
		break;
	case CMD_WRITE_AUX:
		/* No mouse: the byte goes nowhere and the driver times out waiting. */
		break;
	default:
		/* A keyboard command, but no keyboard is attached. */
		log_debug("i8042: no keyboard for data byte 0x%02x", val);
		break;
	}
}

static uint8_t read_status(const struct i8042 *k)
{
	uint8_t status = STATUS_UNLOCKED;

	if (k->out_count) {
		status |= STATUS_OBF;
		if (k->out[k->out_head].aux)
			status |= STATUS_AUX_OBF;
	}
	if (k->ram[0] & CTR_SYS)
		status |= STATUS_SYS;
	if (k->last_was_cmd)
		status |= STATUS_CMD;
	return status;
}

static uint8_t read_data(struct i8042 *k)
{
	if (k->out_count) {
		k->last_out = k->out[k->out_head].byte;
		k->out_head = (k->out_head + 1) % OUT_QUEUE_SIZE;
		k->out_count--;
	}
	return k->last_out;
}

static void i8042_data_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)len; /* the bus only routes 1-byte accesses to a 1-port range */
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = false;
		write_data(k, data[0]);
	} else {
		data[0] = read_data(k);
	}
	pthread_mutex_unlock(&k->lock);
}

static void i8042_cmd_io(void *opaque, uint64_t offset, uint8_t *data, uint32_t len, bool is_write)
{
	struct i8042 *k = opaque;

	(void)offset;
	(void)len;
	pthread_mutex_lock(&k->lock);
	if (is_write) {
		k->last_was_cmd = true;
		write_command(k, data[0]);
	} else {
		data[0] = read_status(k);
	}
	pthread_mutex_unlock(&k->lock);
}

int i8042_create(struct vm *vm)
{
	struct i8042 *k = calloc(1, sizeof(*k));
	int ret;

	if (!k) {
		log_error("i8042: out of memory");
		return -1;
	}
	k->vm = vm;
	/* As firmware leaves it: self-test passed, scancode translation on. */
	k->ram[0] = CTR_SYS | CTR_XLATE;
	k->outport = OUTPORT_RESET | OUTPORT_A20;
	pthread_mutex_init(&k->lock, NULL);
	ret = bus_register(&vm->pio, ARCH_I8042_DATA_PORT, 1, i8042_data_io, k, "i8042");
	if (ret < 0) {
		log_error("i8042: cannot register port 0x%x: error %d", ARCH_I8042_DATA_PORT, ret);
		pthread_mutex_destroy(&k->lock);
		free(k);
		return -1;
	}
	ret = bus_register(&vm->pio, ARCH_I8042_CMD_PORT, 1, i8042_cmd_io, k, "i8042");
	if (ret < 0) {
		/* k stays allocated: the data port's range (no unregister) still points at it. */
		log_error("i8042: cannot register port 0x%x: error %d", ARCH_I8042_CMD_PORT, ret);
		return -1;
	}
	return 0;
}

void i8042_destroy(struct vm *vm)
{
	struct i8042 *k = bus_owner(&vm->pio, ARCH_I8042_CMD_PORT, i8042_cmd_io);

	if (!k)
		return;
	pthread_mutex_destroy(&k->lock);
	free(k);
}

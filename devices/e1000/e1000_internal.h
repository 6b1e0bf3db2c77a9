/*
 * The e1000 model's insides, shared by its files:
 *
 *   e1000.c        creation, the two PCI windows (BAR0 MMIO, BAR1 I/O), reset,
 *                  the I/O thread's wake-up, statistics registers and --stats
 *   e1000_regs.c   the register table with each row's read/write hooks, the
 *                  Microwire EEPROM, the PHY behind MDIC, interrupts (ICR, IMS,
 *                  IMC, ICS, ITR)
 *   e1000_tx.c     the transmit ring: descriptors, gathering, offloads, the tap
 *   e1000_rx.c     the receive ring: filtering, descriptor reservation,
 *                  write-back, the receive state machine
 *
 * Threads and the NIC lock (e->lock):
 *
 * - vCPU threads trap on BAR0/BAR1.  e1000_bar_mmio() takes the lock for the
 *   whole access, so every register hook, the whole of transmit (gather,
 *   segment, tap_write) and every interrupt change runs under it.  A vCPU
 *   never blocks on the host: tap writes are non-blocking, and it wakes the
 *   I/O thread with an eventfd write (e1000_kick_io), never by waiting.
 * - A vCPU's TDT/TCTL write does at most one budget of transmit work
 *   (E1000_TX_BUDGET_*); what is left the I/O thread continues, one budget
 *   per wake-up under the lock, kicking itself until the ring is done, so
 *   no exit and no turn of its loop lasts long whatever the guest queues.
 * - The I/O thread (vmm/core/iothread.h) runs e1000_io_wake() when the kick
 *   eventfd is signalled, the tap becomes readable or the ITR timer fires.
 *   It takes the lock to look at rx.state, to deliver a frame into the ring
 *   and to deliver a held-back interrupt; it reads the tap into rx.buf
 *   *without* the lock.  That is safe because rx.buf belongs to the receiver
 *   alone (the I/O thread, or the caller of e1000_rx_poll() when there is
 *   none): vCPUs never touch it, and a reset only changes rx.state and
 *   rx.held_len, under the lock.  Only the I/O thread arms its watch and
 *   timer.
 * - Fields set at creation (vm, pci, tap, mac, name, eeprom, io and its ids,
 *   kick_fd) are read-only afterwards and need no lock.
 * - counters are relaxed atomics (vmm/core/counters.h): any thread adds,
 *   --stats reads them whole.  The per-register exit counts are under the
 *   lock.
 */
#ifndef MINIVMM_E1000_INTERNAL_H
#define MINIVMM_E1000_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "counters.h"
#include "devices/e1000/e1000.h"
#include "devices/net/tap.h"

struct iothread;

#define E1000_NREGS	(E1000_MMIO_SIZE / 4)
#define E1000_DESC_SIZE 16

/* Largest frame the device accepts from the guest or the tap (jumbo 16 KiB). */
#define E1000_MAX_FRAME 16384
/* A TSO packet (headers + up to 64 KiB of payload) is gathered whole. */
#define E1000_TX_BUF_SIZE (65536 + 256)
/* Without RCTL.LPE frames longer than a VLAN-tagged standard frame are dropped. */
#define E1000_MAX_STD_FRAME 1522

#define E1000_PHY_REGS 32

#define E1000_REG(e, off) ((e)->regs[(off) / 4])

/* ---- the register table (e1000_regs.c) ---- */

/*
 * One row per register (or register array), named for the per-register
 * exit counts.  A row without hooks is plain storage: reads give the stored
 * value, writes change the wmask bits.  A row's hooks replace that: read
 * returns the register's value (and may have side effects: ICR clears),
 * write does whatever the register does (TDT transmits, RDT wakes receive;
 * e1000_reg_store() keeps the stored value when it is wanted).  Row 0 is
 * every offset not listed: reads 0, ignores writes.
 */
struct e1000_reg {
	uint32_t offset;
	uint32_t count; /* dwords */
	const char *name;
	uint32_t reset;
	uint32_t wmask; /* writable bits of the stored value */
	uint32_t (*read)(struct e1000 *e, uint32_t off);
	void (*write)(struct e1000 *e, uint32_t off, uint32_t val);
};

#define E1000_NR_REG_ROWS 56 /* checked against the table */
extern const struct e1000_reg e1000_regs[];

/* The counters of --stats, in the order of its line. */
#define E1000_COUNTERS(X)                                                                          \
	X(tx_packets)                                                                              \
	X(tx_bytes)                                                                                \
	X(tx_tso_segments)                                                                         \
	X(tx_dropped)                                                                              \
	X(tx_tap_errors)                                                                           \
	X(tx_desc_errors)                                                                          \
	X(rx_packets)                                                                              \
	X(rx_bytes)                                                                                \
	X(rx_dropped)                                                                              \
	X(rx_filtered)                                                                             \
	X(rx_desc_errors)                                                                          \
	X(irqs)                                                                                    \
	X(irqs_throttled)                                                                          \
	X(register_exits)                                                                          \
	X(bad_accesses)

struct e1000_counters {
	E1000_COUNTERS(COUNTER_FIELD)
};

/* Interrupt state: INTA# = (icr & ims) != 0, assertions spaced by ITR. */
struct e1000_irq {
	uint32_t icr, ims;
	bool level;	  /* INTA# as last driven */
	bool deferred;	  /* an assertion ITR holds back (the I/O thread's timer delivers it) */
	bool asserted;	  /* INTA# was asserted at least once: last_ns is valid */
	uint64_t last_ns; /* when INTA# was last asserted */
};

/* Microwire EEPROM bit-banging through EECD. */
struct e1000_microwire {
	uint32_t eecd; /* SK, CS, DI, REQ as last written */
	uint32_t in_bits, in_count;
	bool reading;
	unsigned int addr, out_bit;
	int dout;
};

/* The last context descriptor: where the offloads find their headers. */
struct e1000_tx_context {
	uint8_t ipcss, ipcso, tucss, tucso;
	uint16_t ipcse, tucse;
	uint32_t paylen;
	uint8_t tucmd; /* TUCMD byte: TCP, IP, TSE */
	uint8_t hdr_len;
	uint16_t mss;
};

/*
 * Transmit.  IDLE -(first data descriptor)-> GATHERING -(EOP)-> IDLE; a
 * buffer outside RAM or a packet too big for buf turns GATHERING into
 * DISCARDING, whose EOP drops the packet.  A TSO packet whose segments do
 * not all fit in one turn's budget goes from EOP to SEGMENTING: the next
 * turn sends its remaining segments before it looks at another descriptor.
 */
enum e1000_tx_state {
	E1000_TX_IDLE,
	E1000_TX_GATHERING,
	E1000_TX_DISCARDING,
	E1000_TX_SEGMENTING,
};

/* What is left of one turn's work (E1000_TX_BUDGET_*). */
struct e1000_tx_budget {
	unsigned int descs, frames;
	uint32_t bytes;
};

struct e1000_tx {
	struct e1000_tx_context ctx;
	enum e1000_tx_state state;
	uint8_t *buf; /* the packet being gathered, E1000_TX_BUF_SIZE bytes */
	uint32_t len;
	/* Offloads, from the packet's first descriptor. */
	bool legacy_ic; /* legacy descriptor: insert a checksum at cso over css.. */
	uint8_t css, cso;
	bool tse;      /* data descriptor: segment (TSO) */
	uint8_t popts; /* data descriptor: IXSM, TXSM */
	/* From its last (EOP) descriptor. */
	bool vle;
	uint16_t vlan;
	uint8_t *seg_buf, *vlan_buf; /* scratch: one TSO segment, one tagged frame */
	/* SEGMENTING: where the next segment's payload starts, and its number. */
	uint32_t seg_off;
	unsigned int seg_index;
	struct e1000_tx_budget budget; /* of the turn in progress */
};

/*
 * Receive.  The states say whether the tap is read and whether a vCPU that
 * frees descriptors must wake the I/O thread:
 *
 *   READING   nothing held; the tap is read while the ring has room (the
 *             I/O thread waits for the tap to become readable)
 *   NO_ROOM   nothing held; the ring is full or RX is off: the tap is left
 *             alone (frames wait in its queue), the next RDT/RDH/RDLEN/RCTL
 *             write or reset moves to READING and wakes the thread
 *   HOLDING   like NO_ROOM, but a frame read from the tap waits in buf for
 *             descriptors; the next such write moves to RETRY and wakes
 *   RETRY     a held frame to try again (then READING, or HOLDING)
 *   STOPPED   reading the tap failed for good; only RX stops
 *
 * A reset drops a held frame (HOLDING/RETRY -> NO_ROOM -> READING).
 */
enum e1000_rx_state {
	E1000_RX_READING,
	E1000_RX_NO_ROOM,
	E1000_RX_HOLDING,
	E1000_RX_RETRY,
	E1000_RX_STOPPED,
};

struct e1000_rx {
	enum e1000_rx_state state;
	uint8_t *buf;	 /* one frame from the tap (receiver only, see above) */
	size_t held_len; /* HOLDING, RETRY: the frame in buf */
};

struct e1000 {
	struct vm *vm;
	struct pci_device *pci;
	struct tap tap;
	uint8_t mac[6];
	char name[16];
	uint16_t eeprom[E1000_EEPROM_WORDS];
	struct iothread *io; /* NULL: no I/O thread (e1000_rx_poll) */
	int kick_fd;	     /* eventfd: wakes the I/O thread */
	int tap_watch;	     /* iothread_watch_readable() id */
	int irq_timer;	     /* iothread_add_timer() id */

	pthread_mutex_t lock; /* everything below but counters */
	uint32_t regs[E1000_NREGS];
	struct e1000_irq irq;
	uint64_t (*now_ns)(void);
	uint16_t phy[E1000_PHY_REGS];
	struct e1000_microwire mw;
	uint32_t io_addr; /* IOADDR of the I/O BAR */
	struct e1000_tx tx;
	struct e1000_rx rx;
	uint64_t reads[E1000_NR_REG_ROWS], writes[E1000_NR_REG_ROWS]; /* exits per row */

	struct e1000_counters counters;
};

/* ---- e1000.c ---- */

/* Zeroed memory for the device and its buffers (e1000_set_allocator()), NULL if none. */
void *e1000_alloc(size_t size);
/* CTRL.RST: every register, the PHY, the EEPROM interface, TX and RX state. */
void e1000_reset(struct e1000 *e);
/* Wake the I/O thread (any thread; the lock may be held). */
void e1000_kick_io(struct e1000 *e);

bool e1000_is_broadcast(const uint8_t *mac);

/* Statistics registers: saturating 32-bit and wrapping 64-bit counters. */
void e1000_stat_add(struct e1000 *e, uint32_t off, uint32_t n);
/* A good frame of len bytes (FCS included) through the registers of one direction. */
struct e1000_stat_regs {
	uint32_t good, total, good_octets, total_octets, size64, bcast, mcast;
};
extern const struct e1000_stat_regs e1000_stat_rx, e1000_stat_tx;
void e1000_stat_frame(struct e1000 *e, const struct e1000_stat_regs *regs, const uint8_t *frame,
		      uint32_t len);

/* ---- e1000_regs.c ---- */

/* Dispatch one 32-bit access at a dword-aligned offset through the table. */
uint32_t e1000_reg_read(struct e1000 *e, uint32_t off);
void e1000_reg_write(struct e1000 *e, uint32_t off, uint32_t val);
/* The plain store of a write: the row's wmask bits of val. */
void e1000_reg_store(struct e1000 *e, uint32_t off, uint32_t val);
/* Registers, interrupt state, PHY and EEPROM interface to their reset values. */
void e1000_regs_reset(struct e1000 *e);

/* Set causes in ICR and drive INTA# accordingly. */
void e1000_irq_raise(struct e1000 *e, uint32_t cause);
/*
 * Deliver an assertion ITR held back once it is due.  Returns the
 * nanoseconds until it is due, or -1 if none is held back (any more).
 */
int64_t e1000_irq_deferred_wait(struct e1000 *e);

/* ---- e1000_tx.c ---- */

int e1000_tx_alloc(struct e1000_tx *tx);
void e1000_tx_free(struct e1000_tx *tx);
void e1000_tx_reset(struct e1000_tx *tx);
/*
 * Row hook of TDT and TCTL: store, then one turn of e1000_tx_process().
 */
void e1000_tx_write_doorbell(struct e1000 *e, uint32_t off, uint32_t val);
/*
 * One turn of transmit (lock held): the rest of a TSO packet, then
 * descriptors from TDH towards TDT, within the E1000_TX_BUDGET_* limits.
 * Returns whether work is left, in which case the I/O thread has been
 * kicked to do the next turn.
 */
bool e1000_tx_process(struct e1000 *e);

/* ---- e1000_rx.c ---- */

int e1000_rx_alloc(struct e1000_rx *rx);
void e1000_rx_free(struct e1000_rx *rx);
/* Drop a held frame; the next wake-up reads again (lock held). */
void e1000_rx_reset(struct e1000 *e);
/* The guest may have made room (lock held): wake the receiver if it waits. */
void e1000_rx_wake(struct e1000 *e);
/* Row hook of RCTL, RDLEN, RDH, RDT: store, then e1000_rx_wake(). */
void e1000_rx_write_ring(struct e1000 *e, uint32_t off, uint32_t val);

enum e1000_rx_pass_end {
	E1000_RX_PASS_TAP_EMPTY, /* watch the tap for the next frame */
	E1000_RX_PASS_BUDGET,	 /* more may wait: watch the tap (it is readable now) */
	E1000_RX_PASS_WAITING,	 /* no room, or stopped: leave the tap alone */
};
/*
 * The receiver's work (lock not held): deliver a held frame, then read and
 * deliver up to budget frames.  *delivered counts the frames written.
 */
enum e1000_rx_pass_end e1000_rx_pass(struct e1000 *e, unsigned int budget, int *delivered);

#endif

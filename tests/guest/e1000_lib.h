/*
 * A small polling e1000 driver for the test guests (e1000.elf, e1000bench.elf):
 * finds the 82540EM by scanning PCI bus 0, resets it, reads the MAC from the
 * EEPROM the way Linux does (Microwire bit-banging), sets up one TX and one
 * RX ring, and sends/receives frames.  Everything except the PCI scan is
 * meant to run at CPL3 (run_at_cpl3), where the guest runs natively.
 */
#ifndef E1000_LIB_H
#define E1000_LIB_H

#include "rt.h"

#include "../../devices/e1000/e1000.h"
#include "net_frames.h"

/*
 * Rings and buffers live in RAM at a fixed address above the guest image
 * (the arm64 guests' RAM starts elsewhere: arm64/Makefile sets its own).
 */
#ifndef NIC_DMA_BASE
#define NIC_DMA_BASE 0x1000000ULL
#endif
#define NIC_TX_DESCS 256
#define NIC_RX_DESCS 256
#define NIC_BUF_SIZE 2048

struct nic {
	unsigned int slot, irq_line, irq_pin;
	uint64_t mmio;
	uint16_t io;
	uint8_t mac[6];
	volatile uint8_t *tx_ring, *rx_ring;
	uint8_t *tx_bufs, *rx_bufs;
	uint32_t tx_tail;  /* next descriptor to fill */
	uint32_t tx_clean; /* oldest descriptor not yet seen done */
	uint32_t rx_next;  /* next descriptor the device will fill */
};

static inline uint32_t nic_rd(const struct nic *n, uint32_t reg)
{
	return mmio_read32(n->mmio + reg);
}

static inline void nic_wr(const struct nic *n, uint32_t reg, uint32_t v)
{
	mmio_write32(n->mmio + reg, v);
}

/* Scan bus 0, fill slot/BARs/IRQ, enable memory, I/O and bus mastering.  CPL0. */
bool nic_find(struct nic *n);

/* Microwire read of one EEPROM word, as Linux's e1000_read_eeprom() does it. */
uint16_t nic_eeprom_read(const struct nic *n, unsigned int word);
uint16_t nic_phy_read(const struct nic *n, unsigned int reg);

/*
 * Reset, read the MAC from the EEPROM, set up the rings, enable TX and RX.
 * rctl_extra is ORed into RCTL (e.g. E1000_RCTL_SECRC).  Returns false with
 * a message if the device misbehaves.
 */
bool nic_up(struct nic *n, uint32_t rctl_extra);
/* nic_up(nic, 0) in the form run_at_cpl3() takes: run_at_cpl3(nic_up_cpl3, &nic). */
uint64_t nic_up_cpl3(void *nic);

/* Queue one frame (copied); false if the ring is full.  TDT is written by nic_tx_kick. */
bool nic_tx_queue(struct nic *n, const void *frame, uint32_t len);
void nic_tx_kick(struct nic *n);
/* Reclaim finished TX descriptors; returns how many are still in flight. */
uint32_t nic_tx_reclaim(struct nic *n);
/* The three above, for net_send_frames(). */
extern const struct net_tx_ops nic_tx_ops;

/*
 * The next received frame, or NULL.  *len excludes the FCS the device
 * appended unless RCTL.SECRC was set.  Call nic_rx_release after using it.
 */
const uint8_t *nic_rx_peek(struct nic *n, uint32_t *len, uint8_t *status, uint8_t *errors);
/* Return the current descriptor to the device; writes RDT only when kick is set. */
void nic_rx_release(struct nic *n, bool kick);

#endif

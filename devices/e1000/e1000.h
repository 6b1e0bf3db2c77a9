/*
 * Intel 82540EM (PCI 8086:100E) gigabit Ethernet controller, fully emulated.
 *
 * Every register access is an MMIO exit handled in the vCPU thread (the
 * trap-and-emulate path): transmit happens synchronously when the guest
 * writes TDT; an I/O thread (vmm/core/iothread.h) receives from the tap into
 * RX descriptors.  Registers, EEPROM and PHY follow Intel's 8254x Software
 * Developer's Manual as far as Linux's e1000 driver and the test guests use
 * them; see docs/e1000.md for what is and is not modelled.
 *
 * The model is split by concern (e1000_internal.h has the map): e1000.c
 * (creation, PCI windows, lifecycle, --stats), e1000_regs.c (register
 * table, EEPROM, PHY, interrupts), e1000_tx.c, e1000_rx.c; the packet
 * surgery (checksums, TSO, VLAN tags) is devices/net/offload.c.
 *
 * The register constants below need no system headers, so freestanding test
 * guests include this file too.
 */
#ifndef MINIVMM_E1000_H
#define MINIVMM_E1000_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define E1000_VENDOR_ID 0x8086
#define E1000_DEVICE_ID 0x100E
#define E1000_MMIO_SIZE 0x20000 /* BAR0 */
#define E1000_IO_SIZE	0x40	/* BAR1: IOADDR/IODATA window onto the registers */

/* Registers (byte offsets in BAR0). */
#define E1000_CTRL     0x0000
#define E1000_STATUS   0x0008
#define E1000_EECD     0x0010
#define E1000_EERD     0x0014
#define E1000_CTRL_EXT 0x0018
#define E1000_MDIC     0x0020
#define E1000_VET      0x0038
#define E1000_ICR      0x00C0
#define E1000_ITR      0x00C4
#define E1000_ICS      0x00C8
#define E1000_IMS      0x00D0
#define E1000_IMC      0x00D8
#define E1000_RCTL     0x0100
#define E1000_TCTL     0x0400
#define E1000_TIPG     0x0410
#define E1000_RDBAL    0x2800
#define E1000_RDBAH    0x2804
#define E1000_RDLEN    0x2808
#define E1000_RDH      0x2810
#define E1000_RDT      0x2818
#define E1000_RDTR     0x2820
#define E1000_TDBAL    0x3800
#define E1000_TDBAH    0x3804
#define E1000_TDLEN    0x3808
#define E1000_TDH      0x3810
#define E1000_TDT      0x3818
#define E1000_TIDV     0x3820
#define E1000_RXCSUM   0x5000
#define E1000_MTA      0x5200		  /* 128 dwords */
#define E1000_RAL(n)   (0x5400 + 8 * (n)) /* 16 receive address pairs */
#define E1000_RAH(n)   (0x5404 + 8 * (n))
#define E1000_VFTA     0x5600 /* 128 dwords */

/* Statistics (read-to-clear; 64-bit pairs clear when the high half is read). */
#define E1000_MPC    0x4010
#define E1000_RUC    0x40A4
#define E1000_PRC64  0x405C
#define E1000_GPRC   0x4074
#define E1000_BPRC   0x4078
#define E1000_MPRC   0x407C
#define E1000_GPTC   0x4080
#define E1000_GORCL  0x4088
#define E1000_GORCH  0x408C
#define E1000_GOTCL  0x4090
#define E1000_GOTCH  0x4094
#define E1000_RNBC   0x40A0
#define E1000_ROC    0x40AC
#define E1000_TORL   0x40C0
#define E1000_TORH   0x40C4
#define E1000_TOTL   0x40C8
#define E1000_TOTH   0x40CC
#define E1000_TPR    0x40D0
#define E1000_TPT    0x40D4
#define E1000_PTC64  0x40D8
#define E1000_MPTC   0x40F0
#define E1000_BPTC   0x40F4
#define E1000_TSCTC  0x40F8
#define E1000_TSCTFC 0x40FC

#define E1000_CTRL_FD	   0x00000001
#define E1000_CTRL_SLU	   0x00000040
#define E1000_CTRL_RST	   0x04000000
#define E1000_CTRL_VME	   0x40000000
#define E1000_CTRL_PHY_RST 0x80000000

#define E1000_STATUS_FD		0x00000001
#define E1000_STATUS_LU		0x00000002
#define E1000_STATUS_SPEED_1000 0x00000080

#define E1000_EECD_SK	0x001
#define E1000_EECD_CS	0x002
#define E1000_EECD_DI	0x004
#define E1000_EECD_DO	0x008
#define E1000_EECD_REQ	0x040
#define E1000_EECD_GNT	0x080
#define E1000_EECD_PRES 0x100

#define E1000_EERD_START      0x01
#define E1000_EERD_DONE	      0x10
#define E1000_EERD_ADDR_SHIFT 8
#define E1000_EERD_DATA_SHIFT 16

#define E1000_EEPROM_WORDS 64
#define E1000_EEPROM_SUM   0xBABA

#define E1000_MDIC_REG_SHIFT 16
#define E1000_MDIC_PHY_SHIFT 21
#define E1000_MDIC_OP_WRITE  0x04000000
#define E1000_MDIC_OP_READ   0x08000000
#define E1000_MDIC_READY     0x10000000
#define E1000_MDIC_INT_EN    0x20000000
#define E1000_MDIC_ERROR     0x40000000

#define E1000_PHY_ADDR		  1
#define E1000_PHY_CTRL		  0
#define E1000_PHY_STATUS	  1
#define E1000_PHY_ID1		  2
#define E1000_PHY_ID2		  3
#define E1000_PHY_M88_SPEC_STATUS 17
#define E1000_PHY_ID		  0x01410C20 /* Marvell 88E1011, the 82540EM's PHY */

#define E1000_ICR_TXDW	 0x00000001
#define E1000_ICR_TXQE	 0x00000002
#define E1000_ICR_LSC	 0x00000004
#define E1000_ICR_RXDMT0 0x00000010
#define E1000_ICR_RXO	 0x00000040
#define E1000_ICR_RXT0	 0x00000080
#define E1000_ICR_MDAC	 0x00000200

#define E1000_RCTL_EN	       0x00000002
#define E1000_RCTL_UPE	       0x00000008
#define E1000_RCTL_MPE	       0x00000010
#define E1000_RCTL_LPE	       0x00000020
#define E1000_RCTL_RDMTS_SHIFT 8
#define E1000_RCTL_MO_SHIFT    12
#define E1000_RCTL_BAM	       0x00008000
#define E1000_RCTL_BSIZE_SHIFT 16
#define E1000_RCTL_BSEX	       0x02000000
#define E1000_RCTL_SECRC       0x04000000

#define E1000_TCTL_EN  0x00000002
#define E1000_TCTL_PSP 0x00000008

#define E1000_RAH_AV 0x80000000

/* TX descriptors (16 bytes).  cmd_len is the dword at offset 8. */
#define E1000_TXD_LEN_MASK   0x000FFFFF
#define E1000_TXD_DTYP_DATA  0x00100000
#define E1000_TXD_CMD_EOP    0x01000000
#define E1000_TXD_CMD_IFCS   0x02000000
#define E1000_TXD_CMD_IC     0x04000000 /* legacy: insert checksum */
#define E1000_TXD_CMD_TSE    0x04000000 /* data/context: TCP segmentation */
#define E1000_TXD_CMD_RS     0x08000000
#define E1000_TXD_CMD_DEXT   0x20000000
#define E1000_TXD_CMD_VLE    0x40000000
#define E1000_TXD_CMD_IDE    0x80000000
#define E1000_TXD_CMD_TCP    0x01000000 /* context TUCMD */
#define E1000_TXD_CMD_IP     0x02000000 /* context TUCMD: IPv4 */
#define E1000_TXD_STAT_DD    0x01
#define E1000_TXD_POPTS_IXSM 0x01
#define E1000_TXD_POPTS_TXSM 0x02

/* RX descriptor (16 bytes): addr, length, csum, status, errors, special. */
#define E1000_RXD_STAT_DD   0x01
#define E1000_RXD_STAT_EOP  0x02
#define E1000_RXD_STAT_IXSM 0x04
#define E1000_RXD_STAT_VP   0x08
#define E1000_RXD_ERR_RXE   0x80

/*
 * Transmit work one trapped TDT/TCTL write, or one turn of the I/O thread
 * that continues it, does at most (each checked before the next step, so a
 * turn overruns by at most one descriptor or one frame): descriptors,
 * frames sent (TSO segments included), and bytes gathered plus sent.  A few
 * microseconds per frame keep a turn well under a millisecond.
 */
#define E1000_TX_BUDGET_DESCS  256
#define E1000_TX_BUDGET_FRAMES 128
#define E1000_TX_BUDGET_BYTES  (256 * 1024)

struct vm;
struct tap;
struct net_config;
struct e1000;
struct pci_device;

/* Open the tap named in cfg, create the PCI device, start its I/O thread;
 * the device goes to *out unless out is NULL. */
int e1000_create(struct vm *vm, const struct net_config *cfg, unsigned int index,
		 struct e1000 **out);

/*
 * The same on an already open backend that looks like a tap without vnet
 * header (user-mode networking's socket pair), taken over: closed by the
 * device, or here on failure (logged).
 */
int e1000_create_with_tap(struct vm *vm, const struct net_config *cfg, unsigned int index,
			  const struct tap *tap, struct e1000 **out);

/*
 * The device on an already opened tap (unit tests pass a socketpair), named
 * e1000.INDEX.  The device takes ownership of tap.  Without io_thread nothing receives until
 * e1000_rx_poll() is called.
 */
int e1000_create_on_tap(struct vm *vm, unsigned int index, const uint8_t mac[6],
			const struct tap *tap, bool io_thread, struct e1000 **out);

/* Stop the I/O thread, close the tap, free (unit tests). */
void e1000_destroy(struct e1000 *e);

/*
 * Without the I/O thread (unit tests): what the thread does when woken, in
 * this thread: deliver an interrupt ITR held back if it is due, then read
 * the tap until it is empty or the ring has no room.  Returns the number
 * of frames delivered.
 */
int e1000_rx_poll(struct e1000 *e);

/*
 * Without the I/O thread (unit tests): one turn of the transmit work a
 * TDT write left over (what the thread does when woken).  Returns whether
 * work is still left.
 */
bool e1000_tx_poll(struct e1000 *e);

struct pci_device *e1000_pci_device(struct e1000 *e);

/*
 * Unit tests: the allocator e1000_create_on_tap() takes the device and its
 * buffers from (zeroed memory, NULL on failure); NULL restores calloc.
 */
void e1000_set_allocator(void *(*alloc)(size_t size));

/* Replace the monotonic nanosecond clock ITR throttling uses (unit tests). */
void e1000_set_clock(struct e1000 *e, uint64_t (*now_ns)(void));

/* The EEPROM image (MAC words 0-2, checksum word 0x3F). */
void e1000_eeprom_image(const uint8_t mac[6], uint16_t words[E1000_EEPROM_WORDS]);

#endif

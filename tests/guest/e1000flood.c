/*
 * A guest that floods the e1000's transmit side for as long as it runs, to
 * show a stop request is never held up by the device (issue 11): the
 * largest ring the NIC takes (65,528 descriptors) full of 64 KiB TSO
 * packets cut with the smallest MSS the model accepts (NET_TSO_MIN_MSS:
 * over 1,300 segments each), every eighth with MSS 1, which it refuses,
 * and TDT written again and again so the ring never runs dry.  It prints
 * "e1000flood: flooding" after the first TDT write has returned and never
 * stops: tests/integration/e1000_flood.sh ends it with SIGTERM.
 */
#include "e1000_lib.h"

#include "../../devices/net/offload.h"

#define FLOOD_DESCS   65528 /* TDLEN 0xFFF80, the largest the register holds */
#define FLOOD_RING    0x2000000ULL
#define FLOOD_PACKET  0x2200000ULL
#define FLOOD_HDR     54u /* Ethernet, IPv4, TCP */
#define FLOOD_PAYLOAD 65000u

static struct nic nic;

static void flood_desc(unsigned int i, uint64_t addr, uint32_t cmd_len, uint8_t b12, uint8_t b13,
		       uint16_t b14)
{
	volatile uint8_t *d = (volatile uint8_t *)FLOOD_RING + 16 * i;

	memcpy((void *)d, &addr, 8);
	memcpy((void *)(d + 8), &cmd_len, 4);
	d[12] = b12;
	d[13] = b13;
	memcpy((void *)(d + 14), &b14, 2);
}

/* One TCP/IPv4 packet, as Linux hands it to the NIC for TSO. */
static void flood_packet(void)
{
	uint8_t *p = (uint8_t *)FLOOD_PACKET;

	memset(p, 0, FLOOD_HDR + FLOOD_PAYLOAD);
	memset(p, 0xff, 6);
	memcpy(p + 6, nic.mac, 6);
	p[12] = 0x08; /* IPv4 */
	p[14] = 0x45;
	p[22] = 64;
	p[23] = 6; /* TCP */
	memcpy(p + 26, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	p[46] = 5 << 4;
	p[47] = 0x10; /* ACK */
	for (unsigned int i = 0; i < FLOOD_PAYLOAD; i++)
		p[FLOOD_HDR + i] = (uint8_t)i;
}

/* Context and data descriptor pairs; every eighth packet asks for MSS 1. */
static void flood_ring(void)
{
	const uint32_t tso = E1000_TXD_CMD_DEXT | E1000_TXD_CMD_TSE;

	for (unsigned int i = 0; i < FLOOD_DESCS; i += 2) {
		uint16_t mss = (i / 2) % 8 == 7 ? 1 : NET_TSO_MIN_MSS;

		flood_desc(i, 14 | 24 << 8 | 33 << 16 | (uint64_t)(34 | 50 << 8) << 32,
			   FLOOD_PAYLOAD | tso | E1000_TXD_CMD_TCP | E1000_TXD_CMD_IP, 0, FLOOD_HDR,
			   mss);
		flood_desc(i + 1, FLOOD_PACKET,
			   (FLOOD_HDR + FLOOD_PAYLOAD) | tso | E1000_TXD_DTYP_DATA |
			       E1000_TXD_CMD_EOP,
			   0, E1000_TXD_POPTS_IXSM | E1000_TXD_POPTS_TXSM, 0);
	}
}

/* At CPL3, where the guest runs natively: the packet, the ring, the first TDT write. */
static uint64_t flood_start(void *arg)
{
	(void)arg;
	flood_packet();
	flood_ring();
	nic_wr(&nic, E1000_TDBAL, (uint32_t)FLOOD_RING);
	nic_wr(&nic, E1000_TDBAH, 0);
	nic_wr(&nic, E1000_TDLEN, FLOOD_DESCS * 16);
	nic_wr(&nic, E1000_TDH, 0);
	nic_wr(&nic, E1000_TDT, FLOOD_DESCS - 2);
	return 0;
}

/* Keep the whole ring queued: TDT just behind TDH, on a packet boundary. */
static uint64_t flood_forever(void *arg)
{
	(void)arg;
	for (;;) {
		uint32_t head = nic_rd(&nic, E1000_TDH);

		nic_wr(&nic, E1000_TDT, ((head + FLOOD_DESCS - 2) % FLOOD_DESCS) & ~1u);
	}
	return 0;
}

int main(void)
{
	if (!nic_find(&nic) || !run_at_cpl3(nic_up_cpl3, &nic))
		return RT_EXIT_FAIL;
	run_at_cpl3(flood_start, NULL);
	printf("e1000flood: flooding\n");
	run_at_cpl3(flood_forever, NULL);
	return RT_EXIT_FAIL;
}

/*
 * User-mode networking test guest (--net user): on the first NIC it finds
 * (virtio-net if the command line names a virtio-mmio device, else the
 * e1000 on PCI) it talks to libslirp's virtual network as 10.0.2.15:
 *   1. ARP: who has 10.0.2.2 (the gateway)?  The reply gives its MAC.
 *   2. ICMP echo to 10.0.2.2; the echo reply must carry our id, sequence
 *      and payload.
 *   3. "ready for hostfwd": the host connects to a forwarded port, and the
 *      guest waits for the TCP SYN to port nu.port (libslirp first asks who
 *      has 10.0.2.15; the guest answers ARP requests throughout).
 * Exit status: 0 all three, 10 no ARP reply, 11 no echo reply, 12 no SYN
 * before nu.timeout_ms (default 60 s), 13 the device refused the driver.
 * Steps 1 and 2 wait nu.phase_ms each (default 10 s).
 */
#include "e1000_lib.h"
#include "net_frames.h"
#include "rt.h"
#include "virtio_net_lib.h"

#define GUEST_IP   0x0a00020fu /* 10.0.2.15 */
#define GATEWAY_IP 0x0a000202u /* 10.0.2.2 */
#define ETH_ARP	   0x0806
#define ETH_IPV4   0x0800
#define ICMP_ID	   0x4d56
#define ICMP_SEQ   7

static struct vnet vnic;
static struct nic enic;
static bool use_e1000;
static const uint8_t *my_mac;
static uint8_t gw_mac[6];

static uint16_t get16(const uint8_t *p)
{
	return (uint16_t)(p[0] << 8 | p[1]);
}

static uint32_t get32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put16(uint8_t *p, uint16_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

static void put32(uint8_t *p, uint32_t v)
{
	put16(p, (uint16_t)(v >> 16));
	put16(p + 2, (uint16_t)v);
}

/* The Internet checksum of p[0..len). */
static uint16_t csum(const uint8_t *p, uint32_t len)
{
	uint32_t sum = 0;

	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += get16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)~sum;
}

/* ---- the NIC, whichever it is ---- */

static bool nic_send(const uint8_t *f, uint32_t len)
{
	uint64_t deadline = rdtsc() + 1000 * tsc_per_ms();

	if (use_e1000) {
		while (!nic_tx_queue(&enic, f, len)) {
			nic_tx_reclaim(&enic);
			if (rdtsc() > deadline)
				return false;
		}
		nic_tx_kick(&enic);
		return true;
	}
	while (!vnet_tx_queue(&vnic, f, len)) {
		vnet_tx_reclaim(&vnic);
		if (rdtsc() > deadline)
			return false;
	}
	vnet_tx_kick(&vnic);
	vnet_tx_reclaim(&vnic);
	return true;
}

/* The next received frame into buf, its length, or 0 if none is there. */
static uint32_t nic_recv(uint8_t *buf, uint32_t max)
{
	if (use_e1000) {
		uint32_t len;
		uint8_t status, errors;
		const uint8_t *f = nic_rx_peek(&enic, &len, &status, &errors);

		if (!f)
			return 0;
		if (len > max)
			len = max;
		memcpy(buf, f, len);
		nic_rx_release(&enic, true);
		return len;
	}
	struct virtio_net_hdr_v1 hdr;
	int len = vnet_rx(&vnic, &hdr, buf, max);

	if (len != 0)
		vnet_rx_refill(&vnic);
	return len > 0 ? (uint32_t)len : 0;
}

/* ---- frames ---- */

static uint32_t eth_header(uint8_t *f, const uint8_t dst[6], uint16_t type)
{
	memcpy(f, dst, 6);
	memcpy(f + 6, my_mac, 6);
	put16(f + 12, type);
	return 14;
}

static uint32_t arp_frame(uint8_t *f, uint16_t op, const uint8_t tha[6], uint32_t tip)
{
	static const uint8_t broadcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};
	uint8_t *a = f + eth_header(f, op == 1 ? broadcast : tha, ETH_ARP);

	put16(a, 1);	     /* Ethernet */
	put16(a + 2, 0x800); /* IPv4 */
	a[4] = 6;
	a[5] = 4;
	put16(a + 6, op);
	memcpy(a + 8, my_mac, 6);
	put32(a + 14, GUEST_IP);
	memcpy(a + 18, tha, 6);
	put32(a + 24, tip);
	memset(a + 28, 0, 14); /* padding to the 60-byte minimum */
	return 60;
}

/* Answer an ARP request for our address (libslirp asks before the forwarded SYN). */
static bool answer_arp(const uint8_t *f, uint32_t len)
{
	static uint8_t reply[64];

	if (len < 42 || get16(f + 12) != ETH_ARP || get16(f + 20) != 1 || get32(f + 38) != GUEST_IP)
		return false;
	nic_send(reply, arp_frame(reply, 2, f + 22, get32(f + 28)));
	return true;
}

static uint32_t echo_frame(uint8_t *f)
{
	uint8_t *ip = f + eth_header(f, gw_mac, ETH_IPV4), *icmp = ip + 20;
	uint32_t payload = 32;

	memset(ip, 0, 20);
	ip[0] = 0x45;
	put16(ip + 2, (uint16_t)(20 + 8 + payload));
	put16(ip + 4, 1);
	ip[8] = 64;
	ip[9] = 1; /* ICMP */
	put32(ip + 12, GUEST_IP);
	put32(ip + 16, GATEWAY_IP);
	put16(ip + 10, csum(ip, 20));
	memset(icmp, 0, 8);
	icmp[0] = 8; /* echo request */
	put16(icmp + 4, ICMP_ID);
	put16(icmp + 6, ICMP_SEQ);
	for (uint32_t i = 0; i < payload; i++)
		icmp[8 + i] = (uint8_t)(i * 3 + 1);
	put16(icmp + 2, csum(icmp, 8 + payload));
	return 14 + 20 + 8 + payload;
}

/* ---- the three checks ---- */

enum wait_for { WAIT_ARP_REPLY, WAIT_ECHO_REPLY, WAIT_SYN };

struct job {
	enum wait_for what;
	uint64_t timeout_ms;
	uint64_t port;
};

/* Whether f is what the job waits for (answering ARP requests on the way). */
static bool frame_matches(struct job *j, const uint8_t *f, uint32_t len)
{
	const uint8_t *ip = f + 14;
	uint32_t ihl;

	if (answer_arp(f, len))
		return false;
	if (j->what == WAIT_ARP_REPLY)
		return len >= 42 && get16(f + 12) == ETH_ARP && get16(f + 20) == 2 &&
		       get32(f + 28) == GATEWAY_IP && get32(f + 38) == GUEST_IP &&
		       (memcpy(gw_mac, f + 22, 6), true);
	if (len < 34 || get16(f + 12) != ETH_IPV4 || (ip[0] >> 4) != 4 ||
	    get32(ip + 16) != GUEST_IP)
		return false;
	ihl = (ip[0] & 0xf) * 4u;
	if (len < 14 + ihl + 8)
		return false;
	if (j->what == WAIT_ECHO_REPLY) {
		const uint8_t *icmp = ip + ihl;

		if (ip[9] != 1 || icmp[0] != 0 || get16(icmp + 4) != ICMP_ID ||
		    get16(icmp + 6) != ICMP_SEQ || get32(ip + 12) != GATEWAY_IP)
			return false;
		for (uint32_t i = 0; i < 32; i++)
			if (14 + ihl + 8 + i >= len || icmp[8 + i] != (uint8_t)(i * 3 + 1))
				return false;
		return true;
	}
	if (len < 14 + ihl + 20 || ip[9] != 6)
		return false;
	/* TCP: destination port, SYN set, ACK clear. */
	return get16(ip + ihl + 2) == j->port && (ip[ihl + 13] & 0x12) == 0x02;
}

static uint64_t wait_frame(void *arg)
{
	struct job *j = arg;
	static uint8_t f[2048];
	uint64_t deadline = rdtsc() + j->timeout_ms * tsc_per_ms();

	while (rdtsc() < deadline) {
		uint32_t len = nic_recv(f, sizeof(f));

		if (!len) {
			cpu_relax();
			continue;
		}
		if (frame_matches(j, f, len))
			return 0;
	}
	return 1;
}

static uint64_t send_frame(void *arg)
{
	static uint8_t f[128];
	static const uint8_t zero[6];
	bool echo = *(bool *)arg;

	return !nic_send(f, echo ? echo_frame(f) : arp_frame(f, 1, zero, GATEWAY_IP));
}

static uint64_t vnet_bring_up(void *arg)
{
	(void)arg;
	return vnet_up(&vnic, BIT(VIRTIO_NET_F_MAC) | BIT(VIRTIO_NET_F_STATUS), VNET_HDR + 1514);
}

int main(void)
{
	struct job j = {.port = 22, .timeout_ms = 60000};
	uint64_t phase_ms = 10000;
	bool echo;

	cmdline_get_u64("nu.port", &j.port);
	cmdline_get_u64("nu.timeout_ms", &j.timeout_ms);
	cmdline_get_u64("nu.phase_ms", &phase_ms);
	if (vnet_find(&vnic)) {
		if (!run_at_cpl3(vnet_bring_up, NULL))
			return 13;
		/* The backend offers no offloads (it would have to finish them). */
		TEST_ASSERT(!vnet_has(&vnic, VIRTIO_NET_F_CSUM));
		TEST_ASSERT(!vnet_has(&vnic, VIRTIO_NET_F_GUEST_CSUM));
		my_mac = vnic.mac;
	} else {
		if (!nic_find(&enic)) {
			printf("net-user: no virtio-net and no e1000\n");
			return RT_EXIT_FAIL;
		}
		if (!run_at_cpl3(nic_up_cpl3, &enic))
			return 13;
		use_e1000 = true;
		my_mac = enic.mac;
	}
	printf("net-user: %s, mac %02x:%02x:%02x:%02x:%02x:%02x\n",
	       use_e1000 ? "e1000" : "virtio-net", my_mac[0], my_mac[1], my_mac[2], my_mac[3],
	       my_mac[4], my_mac[5]);
	net_check_mac("nu.mac", my_mac);

	echo = false;
	j.what = WAIT_ARP_REPLY;
	if (run_at_cpl3(send_frame, &echo) ||
	    run_at_cpl3(wait_frame, &(struct job){WAIT_ARP_REPLY, phase_ms, 0})) {
		printf("net-user: no ARP reply from 10.0.2.2\n");
		return 10;
	}
	printf("net-user: arp reply: 10.0.2.2 is at %02x:%02x:%02x:%02x:%02x:%02x\n", gw_mac[0],
	       gw_mac[1], gw_mac[2], gw_mac[3], gw_mac[4], gw_mac[5]);

	echo = true;
	if (run_at_cpl3(send_frame, &echo) ||
	    run_at_cpl3(wait_frame, &(struct job){WAIT_ECHO_REPLY, phase_ms, 0})) {
		printf("net-user: no echo reply from 10.0.2.2\n");
		return 11;
	}
	printf("net-user: echo reply from 10.0.2.2\n");

	j.what = WAIT_SYN;
	printf("net-user: ready for hostfwd\n");
	if (run_at_cpl3(wait_frame, &j)) {
		printf("net-user: no TCP SYN to port %lu\n", j.port);
		return 12;
	}
	printf("net-user: TCP SYN to port %lu\n", j.port);
	return RT_EXIT_PASS;
}

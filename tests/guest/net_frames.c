#include "net_frames.h"

static uint32_t make_frame(uint8_t *f, uint32_t k, uint32_t mul, uint32_t seed, const uint8_t *dst,
			   const uint8_t *src, uint16_t etype)
{
	uint32_t len = 60 + (k * mul) % 1455;

	memcpy(f, dst, 6);
	memcpy(f + 6, src, 6);
	f[12] = (uint8_t)(etype >> 8);
	f[13] = (uint8_t)etype;
	f[14] = (uint8_t)(k >> 8);
	f[15] = (uint8_t)k;
	for (uint32_t i = 16; i < len; i++)
		f[i] = (uint8_t)(k * seed + i * 7 + (i >> 8));
	return len;
}

uint32_t net_tx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6])
{
	static const uint8_t bcast[6] = {0xff, 0xff, 0xff, 0xff, 0xff, 0xff};

	return make_frame(f, k, 331, 31, bcast, mac, 0x88b5);
}

uint32_t net_rx_frame(uint8_t *f, uint32_t k, const uint8_t mac[6])
{
	static const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 0x01};

	return make_frame(f, k, 557, 17, mac, peer, 0x88b6);
}

void net_bench_frame(uint8_t *f, uint32_t size, const uint8_t mac[6])
{
	memset(f, 0xff, 6);
	memcpy(f + 6, mac, 6);
	f[12] = 0x88;
	f[13] = 0xb5;
	for (uint32_t i = 14; i < size; i++)
		f[i] = (uint8_t)i;
}

static void net_put16(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 8);
	p[1] = (uint8_t)v;
}

/* The Internet checksum's running sum over big-endian words (even len), folded. */
static uint16_t net_fold_sum(uint32_t sum, const uint8_t *p, uint32_t len)
{
	for (uint32_t i = 0; i + 1 < len; i += 2)
		sum += (uint32_t)p[i] << 8 | p[i + 1];
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

void net_bench_tso_frame(uint8_t *f, uint32_t size, const uint8_t mac[6], bool with_len)
{
	static const uint8_t peer[6] = {0x02, 0, 0, 0, 0, 0x01};
	static const uint8_t addrs[8] = {10, 0, 0, 2, 10, 0, 0, 1}; /* source, destination */
	uint8_t *ip = f + NET_TSO_IP_OFF, *tcp = f + NET_TSO_TCP_OFF;
	uint32_t pseudo = 6; /* protocol TCP */

	memcpy(f, peer, 6);
	memcpy(f + 6, mac, 6);
	net_put16(f + 12, 0x0800);
	memset(ip, 0, NET_TSO_HDR_LEN - NET_TSO_IP_OFF);
	ip[0] = 0x45; /* version 4, 5 words */
	net_put16(ip + 2, size - NET_TSO_IP_OFF);
	net_put16(ip + 4, 0x1234); /* ID */
	net_put16(ip + 6, 0x4000); /* DF */
	ip[8] = 64;		   /* TTL */
	ip[9] = 6;		   /* TCP */
	memcpy(ip + 12, addrs, 8);
	net_put16(ip + 10, (uint16_t)~net_fold_sum(0, ip, 20));
	net_put16(tcp, 40000);
	net_put16(tcp + 2, 5001);
	tcp[7] = 1;		     /* sequence number 1 */
	tcp[11] = 1;		     /* acknowledgment number 1 */
	tcp[12] = 5 << 4;	     /* data offset: 5 words */
	tcp[13] = 0x18;		     /* ACK, PSH */
	net_put16(tcp + 14, 0xffff); /* window */
	if (with_len)
		pseudo += size - NET_TSO_TCP_OFF;
	net_put16(f + NET_TSO_CSUM_OFF, net_fold_sum(pseudo, addrs, 8));
	for (uint32_t i = NET_TSO_HDR_LEN; i < size; i++)
		f[i] = (uint8_t)i;
}

/* Unaligned 8-byte accesses are fine on x86; may_alias keeps them legal C. */
typedef uint64_t __attribute__((may_alias, aligned(1))) net_word;

void net_frame_copy(void *dst, const void *src, uint32_t len)
{
	uint8_t *d = dst;
	const uint8_t *s = src;

	for (; len >= 8; len -= 8, d += 8, s += 8)
		*(net_word *)d = *(const net_word *)s;
	while (len--)
		*d++ = *s++;
}

bool net_bench_frame_take(uint8_t *copy, const uint8_t *buf, uint32_t len, uint32_t want_len)
{
	if (len != want_len || len <= 14 || len > NET_FRAME_MAX)
		return false;
	net_frame_copy(copy, buf, len);
	return (copy[12] << 8 | copy[13]) == NET_BENCH_ETHERTYPE &&
	       copy[len - 1] == (uint8_t)(len - 1);
}

static bool net_parse_mac(const char *s, uint8_t mac[6])
{
	for (int i = 0; i < 6; i++) {
		int hi = digit_value(s[0]), lo;

		if (hi >= 16)
			return false;
		lo = digit_value(s[1]);
		if (lo >= 16)
			return false;
		mac[i] = (uint8_t)(hi << 4 | lo);
		s += 2;
		if (i < 5 && *s++ != ':')
			return false;
	}
	return true;
}

void net_check_mac(const char *key, const uint8_t mac[6])
{
	char text[32];
	uint8_t want[6];

	if (cmdline_get(key, text, sizeof(text)) <= 0)
		return;
	TEST_ASSERT(net_parse_mac(text, want));
	TEST_ASSERT(memcmp(want, mac, 6) == 0);
}

uint64_t net_send_frames(const struct net_tx_ops *ops, void *nic, const uint8_t mac[6],
			 uint32_t count, uint64_t deadline)
{
	static uint8_t f[NET_FRAME_MAX];

	for (uint32_t k = 0; k < count; k++) {
		uint32_t len = net_tx_frame(f, k, mac);

		while (!ops->queue(nic, f, len)) {
			ops->kick(nic);
			ops->reclaim(nic);
			if (rdtsc() > deadline)
				return 1;
		}
		if (k % 5 == 4)
			ops->kick(nic);
	}
	ops->kick(nic);
	while (ops->reclaim(nic))
		if (rdtsc() > deadline)
			return 2;
	return 0;
}

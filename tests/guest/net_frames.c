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

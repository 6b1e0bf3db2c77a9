#include "mac.h"

#include <sys/random.h>
#include <time.h>
#include <unistd.h>

void net_mac_seed(uint8_t seed[NET_MAC_SEED_LEN])
{
	struct timespec ts;
	uint64_t mix;

	if (getrandom(seed, NET_MAC_SEED_LEN, GRND_NONBLOCK) == NET_MAC_SEED_LEN)
		return;
	/* No entropy yet (early boot): still differs between two VMs started side by side. */
	clock_gettime(CLOCK_REALTIME, &ts);
	mix = ((uint64_t)getpid() << 32) ^ (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 20);
	mix *= 0x9e3779b97f4a7c15ull;
	for (unsigned int i = 0; i < NET_MAC_SEED_LEN; i++)
		seed[i] = (uint8_t)(mix >> (8 * i + 16));
}

void net_mac_default(uint8_t mac[6], const uint8_t seed[NET_MAC_SEED_LEN], unsigned int index)
{
	mac[0] = 0x02; /* locally administered, unicast */
	for (unsigned int i = 0; i < 4; i++)
		mac[1 + i] = seed[i];
	mac[5] = (uint8_t)(seed[4] + index);
}

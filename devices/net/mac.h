/*
 * Default MAC addresses: unique per VM, so that two VMs on one bridge do not
 * collide, and distinct per NIC within a VM.
 */
#ifndef MINIVMM_NET_MAC_H
#define MINIVMM_NET_MAC_H

#include <stdint.h>

#define NET_MAC_SEED_LEN 5

/* Random bytes for this VM's default MACs (getrandom; a PID and clock mix if that fails). */
void net_mac_seed(uint8_t seed[NET_MAC_SEED_LEN]);

/*
 * NIC number index's default MAC: 02 (locally administered, unicast), then
 * four seed bytes, then the fifth plus index, so the NICs of one VM differ
 * and VMs differ in 40 random bits.
 */
void net_mac_default(uint8_t mac[6], const uint8_t seed[NET_MAC_SEED_LEN], unsigned int index);

#endif

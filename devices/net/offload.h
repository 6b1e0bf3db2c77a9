/*
 * Packet surgery a NIC model does for offloads, on plain byte buffers: the
 * Internet checksum and its insertion, 802.1Q tag insertion and removal,
 * and TCP/UDP segmentation (TSO) of one large packet into frames.
 *
 * Nothing here knows a device: every function works on a frame in memory
 * and offsets a driver supplied, checks those offsets against the frame's
 * length, and touches no byte outside the buffers it is given.  So any NIC
 * model can share them and unit tests drive them with byte arrays.
 */
#ifndef MINIVMM_NET_OFFLOAD_H
#define MINIVMM_NET_OFFLOAD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define NET_ETH_HLEN	 14 /* destination, source, ethertype */
#define NET_ETH_ZLEN	 60 /* shortest frame on the wire, without FCS */
#define NET_ETH_FCS_LEN	 4
#define NET_VLAN_HLEN	 4  /* an 802.1Q tag: TPID and TCI */
#define NET_VLAN_TAG_OFF 12 /* the tag sits where the ethertype was */

/* ---- Internet checksum (RFC 1071) ---- */

/* sum plus the big-endian 16-bit words of p[0..len) (an odd last byte is padded with 0). */
uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len);

/* The 32-bit running sum folded to 16 bits (not inverted). */
uint16_t net_csum_fold(uint32_t sum);

/*
 * Store ~fold(extra + sum of frame[start..end]) big-endian at frame[at], as
 * a checksum offload asks; end is inclusive, and 0 means the frame's last
 * byte.  With zero_field the field is cleared before summing (when it lies
 * inside the summed range and holds garbage, as an IPv4 header checksum
 * may).  False, and the frame unchanged, if the offsets do not fit: start
 * past end, end or the field outside the frame, or the field before start.
 */
bool net_csum_insert(uint8_t *frame, size_t len, size_t start, size_t end, size_t at,
		     uint32_t extra, bool zero_field);

/* ---- 802.1Q ---- */

/* frame (len bytes) carries a tag whose TPID is tpid (it is at least header + tag long). */
bool net_vlan_tagged(const uint8_t *frame, size_t len, uint16_t tpid);

/* The TCI (priority, CFI, VLAN id) of a tagged frame. */
uint16_t net_vlan_tci(const uint8_t *frame);

/*
 * dst = frame with a tag (tpid, tci) inserted after the addresses; returns
 * len + NET_VLAN_HLEN.  frame must be at least 12 bytes long and dst have
 * room for len + NET_VLAN_HLEN; the two must not overlap.
 */
size_t net_vlan_insert(uint8_t *dst, const uint8_t *frame, size_t len, uint16_t tpid, uint16_t tci);

/*
 * Bytes [off, off + n) of the frame as a receiver delivers it, without
 * changing the frame: with untag the 4-byte tag at NET_VLAN_TAG_OFF is left
 * out (the frame must be tagged, len >= NET_ETH_HLEN + NET_VLAN_HLEN), and
 * past the end of the (untagged) frame come zeros, the room of an FCS the
 * host did not supply.  Lets a frame be scattered over several buffers.
 */
void net_copy_untagged(uint8_t *dst, const uint8_t *frame, size_t len, bool untag, size_t off,
		       size_t n);

/* ---- TCP/UDP segmentation ---- */

/*
 * The smallest MSS a segmentation context may ask for.  Intel's 8254x
 * manual gives none, but no real stack goes below 48: Linux clamps the MSS
 * it sends with to at least 48 bytes (net.ipv4.tcp_min_snd_mss cannot be
 * set lower).  A smaller one is only a way to make one 64 KiB packet cost
 * tens of thousands of frames, so it is refused.  (576 - 40 = 536, the
 * IPv4 default, would be too high: Linux lowers the MSS to 512 after path
 * MTU discovery and to a peer's smaller advertised MSS.)
 */
#define NET_TSO_MIN_MSS 48u

/*
 * One packet to cut into frames: a header of hdr_len bytes (Ethernet, IP,
 * TCP or UDP) followed by payload, cut into mss-byte pieces.  The offsets
 * are a driver's, relative to the packet's start; ipcse 0 means "to the
 * end of the frame".
 */
struct net_tso {
	uint32_t hdr_len, mss;
	uint8_t ipcss, ipcso; /* IP header start, IPv4 header checksum field */
	uint16_t ipcse;	      /* last byte the IPv4 header checksum covers */
	uint8_t tucss, tucso; /* TCP/UDP header start, its checksum field */
	bool ipv4;	      /* else IPv6 */
	bool tcp;	      /* else UDP */
	bool ip_csum;	      /* fill in the IPv4 header checksum */
	bool l4_csum;	      /* fill in the TCP/UDP checksum */
};

/*
 * The header and its offsets fit the packet (total bytes) and a frame of
 * header + mss stays within max_frame: mss at least NET_TSO_MIN_MSS, hdr_len
 * not 0, hdr_len <= total, the IP header (20 bytes), the TCP (20) or UDP (8)
 * header and both checksum fields inside the header, and the L4 header after
 * the IP one.
 */
bool net_tso_valid(const struct net_tso *t, size_t total, size_t max_frame);

/*
 * Frame number index of a valid packet into seg (room for hdr_len + mss
 * bytes); its payload starts at packet offset off (hdr_len + index * mss).
 * The header is copied and fixed up: IPv4 total length and ID (the
 * packet's ID + index) or IPv6 payload length, TCP sequence number (FIN
 * and PSH kept for the last frame only) or UDP length, and the checksums
 * asked for.  The driver leaves in the L4 checksum field the pseudo-header
 * sum without the length, which differs per frame and is added here.
 * Returns the frame's length; off + mss >= total marks the last one.
 */
size_t net_tso_segment(const struct net_tso *t, const uint8_t *pkt, size_t total, size_t off,
		       unsigned int index, uint8_t *seg);

#endif

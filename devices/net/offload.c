#include "offload.h"

#include <string.h>

#include "byteorder.h"

#define IPV4_HLEN 20u /* without options */
#define IPV6_HLEN 40u
#define TCP_HLEN  20u
#define UDP_HLEN  8u
#define TCP_FLAGS 13 /* offset of the flags byte in the TCP header */
#define TCP_FIN	  0x01
#define TCP_PSH	  0x08

uint32_t net_csum_add(uint32_t sum, const uint8_t *p, size_t len)
{
	for (size_t i = 0; i + 1 < len; i += 2)
		sum += get_be16(p + i);
	if (len & 1)
		sum += (uint32_t)p[len - 1] << 8;
	return sum;
}

uint16_t net_csum_fold(uint32_t sum)
{
	while (sum >> 16)
		sum = (sum & 0xffff) + (sum >> 16);
	return (uint16_t)sum;
}

bool net_csum_insert(uint8_t *frame, size_t len, size_t start, size_t end, size_t at,
		     uint32_t extra, bool zero_field)
{
	size_t last = end ? end : len - 1;

	if (len < 2 || start > last || last >= len || at > len - 2 || at < start)
		return false;
	if (zero_field)
		put_be16(frame + at, 0);
	put_be16(frame + at,
		 (uint16_t)~net_csum_fold(net_csum_add(extra, frame + start, last - start + 1)));
	return true;
}

bool net_vlan_tagged(const uint8_t *frame, size_t len, uint16_t tpid)
{
	return len >= NET_ETH_HLEN + NET_VLAN_HLEN && get_be16(frame + NET_VLAN_TAG_OFF) == tpid;
}

uint16_t net_vlan_tci(const uint8_t *frame)
{
	return get_be16(frame + NET_VLAN_TAG_OFF + 2);
}

size_t net_vlan_insert(uint8_t *dst, const uint8_t *frame, size_t len, uint16_t tpid, uint16_t tci)
{
	memcpy(dst, frame, NET_VLAN_TAG_OFF);
	put_be16(dst + NET_VLAN_TAG_OFF, tpid);
	put_be16(dst + NET_VLAN_TAG_OFF + 2, tci);
	memcpy(dst + NET_VLAN_TAG_OFF + NET_VLAN_HLEN, frame + NET_VLAN_TAG_OFF,
	       len - NET_VLAN_TAG_OFF);
	return len + NET_VLAN_HLEN;
}

void net_copy_untagged(uint8_t *dst, const uint8_t *frame, size_t len, bool untag, size_t off,
		       size_t n)
{
	size_t skip = untag ? NET_VLAN_HLEN : 0, flen = len - skip;

	while (n) {
		size_t src, avail, c;

		if (off >= flen) {
			memset(dst, 0, n); /* the FCS room */
			return;
		}
		if (untag && off < NET_VLAN_TAG_OFF) {
			src = off; /* the addresses, before the tag */
			avail = NET_VLAN_TAG_OFF - off;
		} else {
			src = off + skip;
			avail = flen - off;
		}
		c = n < avail ? n : avail;
		memcpy(dst, frame + src, c);
		dst += c;
		off += c;
		n -= c;
	}
}

bool net_tso_valid(const struct net_tso *t, size_t total, size_t max_frame)
{
	uint32_t hdr = t->hdr_len;

	return hdr != 0 && t->mss >= NET_TSO_MIN_MSS && hdr <= total && hdr + t->mss <= max_frame &&
	       t->ipcss + IPV4_HLEN <= hdr && t->tucss + (t->tcp ? TCP_HLEN : UDP_HLEN) <= hdr &&
	       t->tucso + 2u <= hdr && t->tucso >= t->tucss && (!t->ipv4 || t->ipcso + 2u <= hdr) &&
	       t->tucss >= t->ipcss;
}

/* The IP and TCP/UDP header fields that differ from frame to frame. */
static void net_tso_fix_headers(const struct net_tso *t, const uint8_t *pkt, uint8_t *seg,
				size_t len, size_t payload_off, unsigned int index, bool last)
{
	uint8_t *ip = seg + t->ipcss, *l4 = seg + t->tucss;

	if (t->ipv4) {
		put_be16(ip + 2, (uint16_t)(len - t->ipcss));
		put_be16(ip + 4, (uint16_t)(get_be16(pkt + t->ipcss + 4) + index));
	} else {
		/* IPv6 payload length excludes the fixed header. */
		put_be16(ip + 4, (uint16_t)(len - t->ipcss - IPV6_HLEN));
	}
	if (t->tcp) {
		put_be32(l4 + 4, get_be32(pkt + t->tucss + 4) + (uint32_t)payload_off);
		if (!last)
			l4[TCP_FLAGS] &= (uint8_t) ~(TCP_FIN | TCP_PSH);
	} else {
		put_be16(l4 + 4, (uint16_t)(len - t->tucss));
	}
}

size_t net_tso_segment(const struct net_tso *t, const uint8_t *pkt, size_t total, size_t off,
		       unsigned int index, uint8_t *seg)
{
	size_t rest = off < total ? total - off : 0;
	size_t chunk = rest < t->mss ? rest : t->mss, len = t->hdr_len + chunk;

	memcpy(seg, pkt, t->hdr_len);
	memcpy(seg + t->hdr_len, pkt + off, chunk);
	net_tso_fix_headers(t, pkt, seg, len, off - t->hdr_len, index, off + chunk >= total);
	if (t->ipv4 && t->ip_csum)
		net_csum_insert(seg, len, t->ipcss, t->ipcse, t->ipcso, 0, true);
	if (t->l4_csum) {
		/* The packet's field holds the pseudo-header sum without the length. */
		uint32_t pseudo = get_be16(pkt + t->tucso);

		put_be16(seg + t->tucso, 0);
		net_csum_insert(seg, len, t->tucss, 0, t->tucso,
				pseudo + (uint32_t)(len - t->tucss), false);
	}
	return len;
}

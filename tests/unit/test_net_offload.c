/*
 * devices/net/offload.c on byte arrays: the Internet checksum and its
 * insertion, 802.1Q tags, the untagging copy, TSO segmentation.  The
 * checks recompute checksums with net_csum.h, independently of the code
 * under test.
 */
#include <check.h>
#include <stdint.h>
#include <string.h>

#include "byteorder.h"
#include "devices/net/offload.h"
#include "helpers.h"
#include "net_csum.h"

/* ---- checksum ---- */

START_TEST(csum_rfc1071_example)
{
	/* RFC 1071, 3: the words 0001 f203 f4f5 f6f7 sum to ddf2 (folded). */
	static const uint8_t data[] = {0x00, 0x01, 0xf2, 0x03, 0xf4, 0xf5, 0xf6, 0xf7};
	static const uint8_t odd[] = {0x01, 0x02, 0x03};

	ck_assert_uint_eq(net_csum_fold(net_csum_add(0, data, sizeof(data))), 0xddf2);
	ck_assert_uint_eq(net_csum_add(0, odd, sizeof(odd)), 0x0102 + 0x0300);
	ck_assert_uint_eq(net_csum_add(5, odd, 0), 5);
	ck_assert_uint_eq(net_csum_fold(0x2fffe), 0x0001);
}
END_TEST

START_TEST(csum_insert_ipv4_header)
{
	/* A well-known IPv4 header; its checksum is 0xb861. */
	uint8_t h[20] = {0x45, 0x00, 0x00, 0x73, 0x00, 0x00, 0x40, 0x00, 0x40, 0x11,
			 0xaa, 0xbb, 0xc0, 0xa8, 0x00, 0x01, 0xc0, 0xa8, 0x00, 0xc7};

	/* The field holds garbage: zero_field clears it before summing. */
	ck_assert(net_csum_insert(h, sizeof(h), 0, 19, 10, 0, true));
	ck_assert_uint_eq(get_be16(h + 10), 0xb861);
	ck_assert(ref_csum_ok(h, sizeof(h), 0));
	/* end 0: to the frame's end; the same value. */
	h[10] = h[11] = 0;
	ck_assert(net_csum_insert(h, sizeof(h), 0, 0, 10, 0, false));
	ck_assert_uint_eq(get_be16(h + 10), 0xb861);
}
END_TEST

START_TEST(csum_insert_adds_extra_and_keeps_field)
{
	uint8_t f[12] = {0, 0, 0, 0, 0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0};

	/* The field (at 4) holds a partial sum that must be counted, as an L4 pseudo-header sum. */
	ck_assert(net_csum_insert(f, sizeof(f), 4, 0, 4, 0x0100, false));
	ck_assert_uint_eq(get_be16(f + 4),
			  (uint16_t)~ref_csum_fold(0x0100 + 0x1234 + 0x5678 + 0x9abc + 0xdef0));
}
END_TEST

START_TEST(csum_insert_refuses_offsets_outside_the_frame)
{
	uint8_t f[32], copy[32];

	for (unsigned int i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i * 11 + 3);
	memcpy(copy, f, sizeof(f));
	ck_assert(!net_csum_insert(f, sizeof(f), 10, 5, 10, 0, true)); /* start after end */
	ck_assert(!net_csum_insert(f, sizeof(f), 0, 32, 10, 0, true)); /* end outside */
	ck_assert(!net_csum_insert(f, sizeof(f), 0, 0, 31, 0, true));  /* field straddles the end */
	ck_assert(!net_csum_insert(f, sizeof(f), 0, 0, 200, 0, true)); /* field far outside */
	ck_assert(!net_csum_insert(f, sizeof(f), 8, 0, 4, 0, true));   /* field before start */
	ck_assert(!net_csum_insert(f, sizeof(f), 40, 0, 40, 0, true)); /* start outside */
	ck_assert(!net_csum_insert(f, 1, 0, 0, 0, 0, true));	       /* no room for a field */
	ck_assert(!net_csum_insert(f, 0, 0, 0, 0, 0, true));
	ck_assert_mem_eq(f, copy, sizeof(f));
	ck_assert(net_csum_insert(f, sizeof(f), 0, 0, 30, 0, true)); /* the last field that fits */
}
END_TEST

/* ---- 802.1Q ---- */

START_TEST(vlan_tag_detect_and_insert)
{
	uint8_t f[60], tagged[64];

	for (unsigned int i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(i + 1);
	ck_assert_uint_eq(net_vlan_insert(tagged, f, sizeof(f), 0x8100, 0xe00a), 64);
	ck_assert_mem_eq(tagged, f, 12);
	ck_assert_uint_eq(get_be16(tagged + 12), 0x8100);
	ck_assert_uint_eq(get_be16(tagged + 14), 0xe00a);
	ck_assert_mem_eq(tagged + 16, f + 12, sizeof(f) - 12);

	ck_assert(net_vlan_tagged(tagged, sizeof(tagged), 0x8100));
	ck_assert_uint_eq(net_vlan_tci(tagged), 0xe00a);
	ck_assert(!net_vlan_tagged(tagged, sizeof(tagged), 0x88a8)); /* another TPID */
	ck_assert(!net_vlan_tagged(tagged, 17, 0x8100));	     /* too short for a tag */
	ck_assert(net_vlan_tagged(tagged, 18, 0x8100));
	ck_assert(!net_vlan_tagged(f, sizeof(f), 0x8100));
	/* The shortest frame a tag can go into: the addresses alone. */
	ck_assert_uint_eq(net_vlan_insert(tagged, f, 12, 0x8100, 1), 16);
	ck_assert_uint_eq(get_be16(tagged + 14), 1);
}
END_TEST

/* Every window of the untagged view, FCS room included, is what it should be. */
START_TEST(copy_untagged_any_window)
{
	uint8_t f[40], want[40 - 4 + 4], got[sizeof(want)];

	for (unsigned int i = 0; i < sizeof(f); i++)
		f[i] = (uint8_t)(0x80 + i);
	memcpy(f + 12, "\x81\x00\x00\x05", 4);
	memcpy(want, f, 12);
	memcpy(want + 12, f + 16, sizeof(f) - 16);
	memset(want + sizeof(f) - 4, 0, 4);
	for (size_t off = 0; off <= sizeof(want); off++) {
		for (size_t n = 0; off + n <= sizeof(want); n++) {
			memset(got, 0xee, sizeof(got));
			net_copy_untagged(got, f, sizeof(f), true, off, n);
			ck_assert_mem_eq(got, want + off, n);
			if (n < sizeof(got))
				ck_assert_uint_eq(got[n], 0xee); /* nothing past n */
		}
	}
	/* Without untag: the frame, then zeros. */
	net_copy_untagged(got, f, 30, false, 20, 14);
	ck_assert_mem_eq(got, f + 20, 10);
	ck_assert_mem_eq(got + 10, "\0\0\0\0", 4);
}
END_TEST

/* ---- TSO ---- */

#define HDR4 54 /* Ethernet + IPv4 + TCP */

/* Ethernet + IPv4 + TCP header and payload, as Linux hands it for TSO. */
static size_t tcp4_packet(uint8_t *p, size_t payload)
{
	uint8_t *ip = p + 14, *tcp = ip + 20;

	memset(p, 0, HDR4);
	memcpy(p, "\x02\x11\x22\x33\x44\x55\x52\x54\x00\xaa\xbb\xcc\x08\x00", 14);
	ip[0] = 0x45;
	put_be16(ip + 4, 0xffff); /* ID: the second frame's wraps to 0 */
	ip[8] = 64;
	ip[9] = 6;
	memcpy(ip + 12, "\x0a\x00\x00\x01\x0a\x00\x00\x02", 8);
	put_be16(tcp, 1234);
	put_be16(tcp + 2, 80);
	put_be32(tcp + 4, 0xfffffc00); /* sequence number: wraps in the second frame */
	tcp[12] = 5 << 4;
	tcp[13] = 0x19; /* FIN PSH ACK */
	/* The pseudo-header sum without the length, as the driver leaves it. */
	put_be16(tcp + 16, ref_csum_fold(ref_csum_add(ip + 12, 8, 6)));
	for (size_t i = 0; i < payload; i++)
		p[HDR4 + i] = (uint8_t)(i * 7 + 1);
	return HDR4 + payload;
}

static const struct net_tso tcp4 = {.hdr_len = HDR4,
				    .mss = 1000,
				    .ipcss = 14,
				    .ipcso = 24,
				    .ipcse = 33,
				    .tucss = 34,
				    .tucso = 50,
				    .ipv4 = true,
				    .tcp = true,
				    .ip_csum = true,
				    .l4_csum = true};

START_TEST(tso_tcp_ipv4_segments)
{
	static uint8_t pkt[HDR4 + 2500], seg[HDR4 + 1000];
	size_t total = tcp4_packet(pkt, 2500), off = HDR4;
	unsigned int index = 0;

	ck_assert(net_tso_valid(&tcp4, total, 16384));
	do {
		size_t len = net_tso_segment(&tcp4, pkt, total, off, index, seg);
		size_t chunk = total - off < 1000 ? total - off : 1000;
		bool last = off + chunk >= total;
		uint32_t pseudo = ref_csum_add(seg + 26, 8, 6 + (uint32_t)(len - 34));

		ck_assert_uint_eq(len, HDR4 + chunk);
		ck_assert_mem_eq(seg, pkt, 14);
		ck_assert_uint_eq(get_be16(seg + 16), len - 14);
		ck_assert_uint_eq(get_be16(seg + 18), (uint16_t)(0xffff + index));
		ck_assert_uint_eq(get_be32(seg + 38), (uint32_t)(0xfffffc00u + (off - HDR4)));
		ck_assert_uint_eq(seg[47], last ? 0x19 : 0x10);
		ck_assert(ref_csum_ok(seg + 14, 20, 0));
		ck_assert(ref_csum_ok(seg + 34, len - 34, pseudo));
		ck_assert_mem_eq(seg + HDR4, pkt + off, chunk);
		off += 1000;
		index++;
	} while (off < total);
	ck_assert_uint_eq(index, 3);
	/* The packet itself is left as it was. */
	ck_assert_uint_eq(get_be16(pkt + 18), 0xffff);
	ck_assert_uint_eq(pkt[47], 0x19);
}
END_TEST

START_TEST(tso_udp_ipv6_segments)
{
	/* Ethernet + IPv6 (40) + UDP (8). */
	static uint8_t pkt[62 + 700], seg[62 + 300];
	const struct net_tso t = {.hdr_len = 62,
				  .mss = 300,
				  .ipcss = 14,
				  .tucss = 54,
				  .tucso = 60,
				  .ipv4 = false,
				  .tcp = false,
				  .ip_csum = true, /* no IPv6 header checksum: ignored */
				  .l4_csum = true};
	uint8_t *ip6 = pkt + 14;
	size_t off = 62;

	memset(pkt, 0, sizeof(pkt));
	memcpy(pkt + 12, "\x86\xdd", 2);
	ip6[0] = 0x60;
	ip6[6] = 17;
	for (int i = 0; i < 32; i++)
		ip6[8 + i] = (uint8_t)(0x20 + i);
	put_be16(pkt + 54, 5353);
	put_be16(pkt + 56, 5353);
	put_be16(pkt + 60, ref_csum_fold(ref_csum_add(ip6 + 8, 32, 17)));
	for (size_t i = 62; i < sizeof(pkt); i++)
		pkt[i] = (uint8_t)i;
	ck_assert(net_tso_valid(&t, sizeof(pkt), 16384));
	for (unsigned int index = 0; off < sizeof(pkt); index++, off += 300) {
		size_t len = net_tso_segment(&t, pkt, sizeof(pkt), off, index, seg);
		uint32_t l4len = (uint32_t)(len - 54);

		ck_assert_uint_eq(len, 62 + (index < 2 ? 300 : 100));
		ck_assert_uint_eq(get_be16(seg + 18), len - 14 - 40); /* payload length */
		ck_assert_uint_eq(get_be16(seg + 58), l4len);	      /* UDP length */
		ck_assert(ref_csum_ok(seg + 54, l4len, ref_csum_add(seg + 22, 32, 17 + l4len)));
		ck_assert_mem_eq(seg + 62, pkt + off, len - 62);
	}
}
END_TEST

START_TEST(tso_header_only_packet_is_one_last_frame)
{
	static uint8_t pkt[HDR4], seg[HDR4];
	size_t total = tcp4_packet(pkt, 0);

	ck_assert(net_tso_valid(&tcp4, total, 16384));
	ck_assert_uint_eq(net_tso_segment(&tcp4, pkt, total, HDR4, 0, seg), HDR4);
	ck_assert_uint_eq(seg[47], 0x19); /* FIN and PSH kept: it is the last */
	ck_assert_uint_eq(get_be16(seg + 16), 40);
}
END_TEST

START_TEST(tso_valid_refuses_contexts_that_do_not_fit)
{
	struct net_tso t;

#define REFUSED(field, value)                                                                      \
	do {                                                                                       \
		t = tcp4;                                                                          \
		t.field = value;                                                                   \
		ck_assert(!net_tso_valid(&t, 3000, 16384));                                        \
	} while (0)
	ck_assert(net_tso_valid(&tcp4, 3000, 16384));
	ck_assert(net_tso_valid(&tcp4, HDR4, HDR4 + 1000));
	ck_assert(!net_tso_valid(&tcp4, HDR4 - 1, 16384));  /* header longer than the packet */
	ck_assert(!net_tso_valid(&tcp4, 3000, HDR4 + 999)); /* a frame would exceed the limit */
	REFUSED(mss, 0);
	REFUSED(mss, 1);
	REFUSED(mss, NET_TSO_MIN_MSS - 1); /* below what any real stack sends */
	REFUSED(hdr_len, 0);
	REFUSED(ipcss, 35);  /* IP header past the header's end */
	REFUSED(tucss, 35);  /* TCP header (20 bytes) past it */
	REFUSED(tucso, 53);  /* checksum field straddles its end */
	REFUSED(tucso, 33);  /* checksum field before the L4 header */
	REFUSED(ipcso, 53);  /* IPv4 checksum field straddles the end */
	REFUSED(tucss, 250); /* far outside */
#undef REFUSED
	t = tcp4;
	t.mss = NET_TSO_MIN_MSS;
	ck_assert(net_tso_valid(&t, 3000, 16384));
	t = tcp4; /* L4 header before the IP header, both inside the header */
	t.ipcss = 30;
	t.tucss = 29;
	ck_assert(!net_tso_valid(&t, 3000, 16384));
	/* UDP needs 8 header bytes, not 20; IPv6 has no header checksum field. */
	t = tcp4;
	t.tcp = false;
	t.tucss = 46;
	t.tucso = 52;
	ck_assert(net_tso_valid(&t, 3000, 16384));
	t.ipv4 = false;
	t.ipcso = 255;
	ck_assert(net_tso_valid(&t, 3000, 16384));
}
END_TEST

Suite *net_offload_suite(void)
{
	Suite *s = suite_create("net_offload");

	unit_tcase(s, "csum", NULL, NULL,
		   UNIT_TESTS(csum_rfc1071_example, csum_insert_ipv4_header,
			      csum_insert_adds_extra_and_keeps_field,
			      csum_insert_refuses_offsets_outside_the_frame));
	unit_tcase(s, "vlan", NULL, NULL,
		   UNIT_TESTS(vlan_tag_detect_and_insert, copy_untagged_any_window));
	unit_tcase(s, "tso", NULL, NULL,
		   UNIT_TESTS(tso_tcp_ipv4_segments, tso_udp_ipv6_segments,
			      tso_header_only_packet_is_one_last_frame,
			      tso_valid_refuses_contexts_that_do_not_fit));
	return s;
}

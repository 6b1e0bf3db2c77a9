/* The AML builder (aml.h).  Encodings: ACPI 6.x, 20.2 (AML grammar) and 6.4 (resources). */
#include "aml.h"

#include <string.h>

/* Opcodes (ACPI 6.x, 20.2). */
#define AML_ZERO_OP	      0x00
#define AML_ONE_OP	      0x01
#define AML_NAME_OP	      0x08
#define AML_BYTE_PREFIX	      0x0A
#define AML_WORD_PREFIX	      0x0B
#define AML_DWORD_PREFIX      0x0C
#define AML_STRING_PREFIX     0x0D
#define AML_QWORD_PREFIX      0x0E
#define AML_SCOPE_OP	      0x10
#define AML_BUFFER_OP	      0x11
#define AML_PACKAGE_OP	      0x12
#define AML_METHOD_OP	      0x14
#define AML_DUAL_NAME_PREFIX  0x2E
#define AML_MULTI_NAME_PREFIX 0x2F
#define AML_EXT_OP_PREFIX     0x5B
#define AML_DEVICE_OP	      0x82 /* after AML_EXT_OP_PREFIX */
#define AML_ROOT_CHAR	      '\\'
#define AML_PARENT_CHAR	      '^'
#define AML_ARG0_OP	      0x68
#define AML_NOTIFY_OP	      0x86
#define AML_LEQUAL_OP	      0x93
#define AML_IF_OP	      0xA0
#define AML_RETURN_OP	      0xA4
#define AML_ONES_OP	      0xFF

#define AML_MAX_SEGMENTS   255
#define AML_PKG_LENGTH_MAX 0x0FFFFFFF /* 28 bits */

/* Resource descriptors (ACPI 6.x, 6.4). */
#define RES_IO			0x47 /* small item 0x08, 7 bytes */
#define RES_END_TAG		0x79 /* small item 0x0F, 1 byte */
#define RES_MEMORY32_FIXED	0x86
#define RES_DWORD_ADDRESS	0x87
#define RES_WORD_ADDRESS	0x88
#define RES_EXTENDED_IRQ	0x89
#define RES_ADDR_MEMORY		0
#define RES_ADDR_IO		1
#define RES_ADDR_BUS		2
#define RES_ADDR_PRODUCER_FIXED 0x0C /* producer, positive decode, MinFixed, MaxFixed */
#define RES_IO_ENTIRE_RANGE	0x03
#define RES_MEM_READ_WRITE	0x01 /* non-cacheable */
#define RES_IRQ_CONSUMER	0x01
#define RES_IRQ_EDGE		0x02
#define RES_IRQ_ACTIVE_LOW	0x04
#define RES_IRQ_SHARED		0x08

void aml_init(struct aml *a, uint8_t *buf, size_t size)
{
	memset(a, 0, sizeof(*a));
	a->buf = buf;
	a->size = size;
}

size_t aml_finish(struct aml *a)
{
	if (a->depth)
		a->error = true;
	return a->error ? 0 : a->len;
}

static void aml_put(struct aml *a, const void *data, size_t len)
{
	if (a->error)
		return;
	if (a->size - a->len < len) {
		a->error = true;
		return;
	}
	memcpy(a->buf + a->len, data, len);
	a->len += len;
}

static void aml_byte(struct aml *a, uint8_t b)
{
	aml_put(a, &b, 1);
}

static void aml_le(struct aml *a, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		aml_byte(a, (uint8_t)(v >> (8 * i)));
}

/*
 * A block's PkgLength counts itself and everything up to the block's end,
 * so it is known only at aml_end(): reserve the longest encoding (4 bytes)
 * now and move the body down when a shorter one suffices.
 */
static void aml_open(struct aml *a)
{
	if (a->error)
		return;
	if (a->depth == AML_MAX_DEPTH) {
		a->error = true;
		return;
	}
	a->open[a->depth++] = a->len;
	aml_le(a, 0, 4);
}

void aml_end(struct aml *a)
{
	size_t at, body, total;
	unsigned int n;

	if (a->error)
		return;
	if (a->depth == 0) {
		a->error = true;
		return;
	}
	at = a->open[--a->depth];
	body = a->len - at - 4;
	if (body + 1 <= 0x3F)
		n = 1;
	else if (body + 2 <= 0xFFF)
		n = 2;
	else if (body + 3 <= 0xFFFFF)
		n = 3;
	else if (body + 4 <= AML_PKG_LENGTH_MAX)
		n = 4;
	else {
		a->error = true;
		return;
	}
	total = body + n;
	if (n == 1) {
		a->buf[at] = (uint8_t)total;
	} else {
		/* Lead byte: count of following bytes in bits 7:6, low nibble in 3:0. */
		a->buf[at] = (uint8_t)(((n - 1) << 6) | (total & 0x0F));
		for (unsigned int i = 1; i < n; i++)
			a->buf[at + i] = (uint8_t)(total >> (4 + 8 * (i - 1)));
	}
	memmove(a->buf + at + n, a->buf + at + 4, body);
	a->len -= 4 - n;
}

void aml_integer(struct aml *a, uint64_t v)
{
	if (v == 0)
		aml_byte(a, AML_ZERO_OP);
	else if (v == 1)
		aml_byte(a, AML_ONE_OP);
	else if (v == UINT64_MAX)
		aml_byte(a, AML_ONES_OP);
	else if (v <= UINT8_MAX) {
		aml_byte(a, AML_BYTE_PREFIX);
		aml_le(a, v, 1);
	} else if (v <= UINT16_MAX) {
		aml_byte(a, AML_WORD_PREFIX);
		aml_le(a, v, 2);
	} else if (v <= UINT32_MAX) {
		aml_byte(a, AML_DWORD_PREFIX);
		aml_le(a, v, 4);
	} else {
		aml_byte(a, AML_QWORD_PREFIX);
		aml_le(a, v, 8);
	}
}

void aml_string(struct aml *a, const char *s)
{
	for (const char *p = s; *p; p++)
		if (*p < 0x20 || *p > 0x7e)
			a->error = true;
	aml_byte(a, AML_STRING_PREFIX);
	aml_put(a, s, strlen(s) + 1);
}

static int aml_hex_digit(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

void aml_eisaid(struct aml *a, const char *id)
{
	uint32_t v = 0;

	if (strlen(id) != 7) {
		a->error = true;
		return;
	}
	/* Three 5-bit letters ('A' = 1) then four hex digits, big-endian in memory. */
	for (int i = 0; i < 3; i++) {
		if (id[i] < 'A' || id[i] > 'Z') {
			a->error = true;
			return;
		}
		v |= (uint32_t)(id[i] - 'A' + 1) << (26 - 5 * i);
	}
	for (int i = 3; i < 7; i++) {
		int d = aml_hex_digit(id[i]);

		if (d < 0) {
			a->error = true;
			return;
		}
		v |= (uint32_t)d << (4 * (6 - i));
	}
	aml_integer(a, __builtin_bswap32(v));
}

static bool aml_seg_char(char c, bool first)
{
	return (c >= 'A' && c <= 'Z') || c == '_' || (!first && c >= '0' && c <= '9');
}

void aml_name_string(struct aml *a, const char *path)
{
	const char *p = path;
	unsigned int nsegs = 0;

	if (*p == AML_ROOT_CHAR) {
		aml_byte(a, AML_ROOT_CHAR);
		p++;
	} else {
		while (*p == AML_PARENT_CHAR) {
			aml_byte(a, AML_PARENT_CHAR);
			p++;
		}
	}
	if (*p == '\0') {
		if (p == path) /* an empty name is no name */
			a->error = true;
		aml_byte(a, 0x00); /* NullName: "\" alone is the root */
		return;
	}
	/* Count and check the segments before writing any. */
	for (const char *s = p;;) {
		size_t n = strcspn(s, ".");

		if (n == 0 || n > 4) {
			a->error = true;
			return;
		}
		for (size_t i = 0; i < n; i++)
			if (!aml_seg_char(s[i], i == 0)) {
				a->error = true;
				return;
			}
		nsegs++;
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
	if (nsegs > AML_MAX_SEGMENTS) {
		a->error = true;
		return;
	}
	if (nsegs == 2) {
		aml_byte(a, AML_DUAL_NAME_PREFIX);
	} else if (nsegs > 2) {
		aml_byte(a, AML_MULTI_NAME_PREFIX);
		aml_byte(a, (uint8_t)nsegs);
	}
	for (const char *s = p;;) {
		size_t n = strcspn(s, ".");
		char seg[4] = {'_', '_', '_', '_'};

		memcpy(seg, s, n);
		aml_put(a, seg, 4);
		if (s[n] == '\0')
			break;
		s += n + 1;
	}
}

void aml_buffer(struct aml *a, const uint8_t *data, size_t len)
{
	aml_byte(a, AML_BUFFER_OP);
	aml_open(a);
	aml_integer(a, len);
	aml_put(a, data, len);
	aml_end(a);
}

void aml_name(struct aml *a, const char *name)
{
	aml_byte(a, AML_NAME_OP);
	aml_name_string(a, name);
}

void aml_scope(struct aml *a, const char *path)
{
	aml_byte(a, AML_SCOPE_OP);
	aml_open(a);
	aml_name_string(a, path);
}

void aml_device(struct aml *a, const char *name)
{
	aml_byte(a, AML_EXT_OP_PREFIX);
	aml_byte(a, AML_DEVICE_OP);
	aml_open(a);
	aml_name_string(a, name);
}

void aml_method(struct aml *a, const char *name, unsigned int nargs, bool serialized)
{
	if (nargs > 7)
		a->error = true;
	aml_byte(a, AML_METHOD_OP);
	aml_open(a);
	aml_name_string(a, name);
	/* MethodFlags: ArgCount in bits 2:0, SerializeFlag in bit 3, SyncLevel 0. */
	aml_byte(a, (uint8_t)((nargs & 7) | (serialized ? 0x08 : 0)));
}

void aml_package(struct aml *a, unsigned int count)
{
	if (count > UINT8_MAX)
		a->error = true;
	aml_byte(a, AML_PACKAGE_OP);
	aml_open(a);
	aml_byte(a, (uint8_t)count);
}

void aml_if(struct aml *a)
{
	aml_byte(a, AML_IF_OP);
	aml_open(a);
}

void aml_lequal(struct aml *a)
{
	aml_byte(a, AML_LEQUAL_OP);
}

void aml_notify(struct aml *a)
{
	aml_byte(a, AML_NOTIFY_OP);
}

void aml_return(struct aml *a)
{
	aml_byte(a, AML_RETURN_OP);
}

void aml_arg(struct aml *a, unsigned int n)
{
	if (n > 6)
		a->error = true;
	aml_byte(a, (uint8_t)(AML_ARG0_OP + (n & 7)));
}

/* --- Resource templates --- */

void aml_resources_init(struct aml_resources *r)
{
	memset(r, 0, sizeof(*r));
}

static void res_put(struct aml_resources *r, const uint8_t *d, size_t len)
{
	if (r->error)
		return;
	/* Room is kept for the end tag (2 bytes). */
	if (sizeof(r->buf) - 2 - r->len < len) {
		r->error = true;
		return;
	}
	memcpy(r->buf + r->len, d, len);
	r->len += len;
}

static void res_le(uint8_t *d, uint64_t v, unsigned int bytes)
{
	for (unsigned int i = 0; i < bytes; i++)
		d[i] = (uint8_t)(v >> (8 * i));
}

void aml_res_io(struct aml_resources *r, uint16_t min, uint16_t max, uint8_t align, uint8_t length)
{
	uint8_t d[8] = {RES_IO, 0x01 /* 16-bit decode */};

	if (min > max)
		r->error = true;
	res_le(d + 2, min, 2);
	res_le(d + 4, max, 2);
	d[6] = align;
	d[7] = length;
	res_put(r, d, sizeof(d));
}

void aml_res_memory32_fixed(struct aml_resources *r, bool writable, uint32_t base, uint32_t length)
{
	uint8_t d[12] = {RES_MEMORY32_FIXED, 9, 0, writable ? 1 : 0};

	res_le(d + 4, base, 4);
	res_le(d + 8, length, 4);
	res_put(r, d, sizeof(d));
}

void aml_res_interrupt(struct aml_resources *r, bool edge, bool active_low, bool shared,
		       uint32_t gsi)
{
	uint8_t d[9] = {RES_EXTENDED_IRQ, 6, 0};

	d[3] = RES_IRQ_CONSUMER | (edge ? RES_IRQ_EDGE : 0) |
	       (active_low ? RES_IRQ_ACTIVE_LOW : 0) | (shared ? RES_IRQ_SHARED : 0);
	d[4] = 1; /* one interrupt in the table */
	res_le(d + 5, gsi, 4);
	res_put(r, d, sizeof(d));
}

/* Word Address Space Descriptor: granularity 0, no translation. */
static void res_word_address(struct aml_resources *r, uint8_t type, uint8_t type_flags,
			     uint16_t min, uint16_t max)
{
	uint8_t d[16] = {RES_WORD_ADDRESS, 13, 0, type, RES_ADDR_PRODUCER_FIXED, type_flags};

	if (min > max)
		r->error = true;
	res_le(d + 8, min, 2);
	res_le(d + 10, max, 2);
	res_le(d + 14, (uint32_t)max - min + 1, 2);
	res_put(r, d, sizeof(d));
}

void aml_res_word_bus_number(struct aml_resources *r, uint16_t min, uint16_t max)
{
	res_word_address(r, RES_ADDR_BUS, 0, min, max);
}

void aml_res_word_io(struct aml_resources *r, uint16_t min, uint16_t max)
{
	res_word_address(r, RES_ADDR_IO, RES_IO_ENTIRE_RANGE, min, max);
}

void aml_res_dword_memory(struct aml_resources *r, uint32_t min, uint32_t max)
{
	uint8_t d[26] = {RES_DWORD_ADDRESS, 23, 0, RES_ADDR_MEMORY, RES_ADDR_PRODUCER_FIXED,
			 RES_MEM_READ_WRITE};

	if (min > max)
		r->error = true;
	res_le(d + 10, min, 4);
	res_le(d + 14, max, 4);
	res_le(d + 22, (uint64_t)max - min + 1, 4);
	res_put(r, d, sizeof(d));
}

void aml_resource_template(struct aml *a, const struct aml_resources *r)
{
	uint8_t buf[AML_RESOURCES_MAX];

	if (r->error || r->len > sizeof(buf) - 2) {
		a->error = true;
		return;
	}
	memcpy(buf, r->buf, r->len);
	buf[r->len] = RES_END_TAG;
	buf[r->len + 1] = 0; /* checksum 0: "treat as correct" */
	aml_buffer(a, buf, r->len + 2);
}

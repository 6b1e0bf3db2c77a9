/*
 * A fuzzer's input read as a stream of small decisions: each target takes
 * bytes from the front to choose what to do next (which register, which
 * value, which descriptor), so libFuzzer's mutations of one byte change one
 * decision.  Reading past the end yields zeros, and fuzz_input_done() says
 * when to stop.
 */
#ifndef MINIVMM_FUZZ_INPUT_H
#define MINIVMM_FUZZ_INPUT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct fuzz_input {
	const uint8_t *data;
	size_t size, pos;
};

static inline struct fuzz_input fuzz_input_init(const uint8_t *data, size_t size)
{
	return (struct fuzz_input){.data = data, .size = size, .pos = 0};
}

static inline bool fuzz_input_done(const struct fuzz_input *in)
{
	return in->pos >= in->size;
}

/* Copies up to n bytes into out, zero-filling what the input lacks. */
static inline void fuzz_input_bytes(struct fuzz_input *in, void *out, size_t n)
{
	size_t have = in->pos < in->size ? in->size - in->pos : 0;
	size_t take = have < n ? have : n;

	memcpy(out, in->data + in->pos, take);
	memset((uint8_t *)out + take, 0, n - take);
	in->pos += take;
}

static inline uint8_t fuzz_u8(struct fuzz_input *in)
{
	uint8_t v;

	fuzz_input_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint16_t fuzz_u16(struct fuzz_input *in)
{
	uint16_t v;

	fuzz_input_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint32_t fuzz_u32(struct fuzz_input *in)
{
	uint32_t v;

	fuzz_input_bytes(in, &v, sizeof(v));
	return v;
}

static inline uint64_t fuzz_u64(struct fuzz_input *in)
{
	uint64_t v;

	fuzz_input_bytes(in, &v, sizeof(v));
	return v;
}

/* A value in [0, n): n > 0. */
static inline uint32_t fuzz_below(struct fuzz_input *in, uint32_t n)
{
	return n <= 256 ? fuzz_u8(in) % n : fuzz_u32(in) % n;
}

/*
 * An invariant of the model under test is broken: say which, and abort so
 * that libFuzzer saves the input as a reproducer.
 */
#define FUZZ_CHECK(cond, ...)                                                                      \
	do {                                                                                       \
		if (!(cond)) {                                                                     \
			fprintf(stderr, "fuzz: invariant broken at %s:%d: %s: ", __FILE__,         \
				__LINE__, #cond);                                                  \
			fprintf(stderr, __VA_ARGS__);                                              \
			fputc('\n', stderr);                                                       \
			abort();                                                                   \
		}                                                                                  \
	} while (0)

#endif

/*
 * test-agent-ring.c - the lock-free sample ring on its own: round trips,
 * wrap-around, exact drop counting when full, and many producers against
 * one consumer.
 */
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "sampler/ring.h"
#include "task.h"

TEST(agent_ring_roundtrip)
{
	struct oxa_ring *r;
	ASSERT_EQ(oxa_ring_new(&r, 100), 0);
	ASSERT_EQ(oxa_ring_capacity(r), 128);
	uint64_t w[10], out[10], tag;
	for (uint64_t n = 1; n <= 10; n++) {
		for (uint64_t i = 0; i < n; i++)
			w[i] = n * 100 + i;
		ASSERT_EQ(oxa_ring_push(r, 1000 + n, w, n), 0);
	}
	for (uint64_t n = 1; n <= 10; n++) {
		ASSERT_EQ(oxa_ring_pop(r, &tag, out, 10), n);
		ASSERT_EQ(tag, 1000 + n);
		for (uint64_t i = 0; i < n; i++)
			ASSERT_EQ(out[i], n * 100 + i);
	}
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 10), 0);
	ASSERT_EQ(oxa_ring_dropped(r), 0);
	oxa_ring_free(r);
}

TEST(agent_ring_rejects_bad_sizes)
{
	struct oxa_ring *r;
	ASSERT_EQ(oxa_ring_new(&r, 64), 0);
	uint64_t w[128] = { 0 };
	ASSERT_EQ(oxa_ring_push(r, 1, w, 0), -EINVAL);
	ASSERT_EQ(oxa_ring_push(r, 1, w, 64), -EMSGSIZE); /* 65 words > 64 */
	ASSERT_EQ(oxa_ring_push(r, 1, w, 63), 0);         /* exactly fits */
	ASSERT_EQ(oxa_ring_dropped(r), 0);
	ASSERT_EQ(oxa_ring_new(&r, 0), -EINVAL);
	oxa_ring_free(r);
}

TEST(agent_ring_full_counts_drops_exactly)
{
	struct oxa_ring *r;
	ASSERT_EQ(oxa_ring_new(&r, 64), 0);
	uint64_t w[7] = { 1, 2, 3, 4, 5, 6, 7 }, out[7], tag;
	/* 8-word records: exactly 8 fit in 64 words. */
	for (int i = 0; i < 8; i++)
		ASSERT_EQ(oxa_ring_push(r, (uint64_t)i, w, 7), 0);
	for (int i = 0; i < 37; i++)
		ASSERT_EQ(oxa_ring_push(r, 99, w, 7), -ENOBUFS);
	ASSERT_EQ(oxa_ring_dropped(r), 37);
	/* A smaller record does not fit either: the ring is full. */
	ASSERT_EQ(oxa_ring_push(r, 99, w, 1), -ENOBUFS);
	ASSERT_EQ(oxa_ring_dropped(r), 38);
	/* Freeing one record makes room for exactly one more. */
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 7), 7);
	ASSERT_EQ(tag, 0);
	ASSERT_EQ(oxa_ring_push(r, 8, w, 7), 0);
	ASSERT_EQ(oxa_ring_push(r, 99, w, 1), -ENOBUFS);
	ASSERT_EQ(oxa_ring_dropped(r), 39);
	for (int i = 1; i <= 8; i++) {
		ASSERT_EQ(oxa_ring_pop(r, &tag, out, 7), 7);
		ASSERT_EQ(tag, (uint64_t)i);
		ASSERT_EQ(out[6], 7);
	}
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 7), 0);
	oxa_ring_free(r);
}

TEST(agent_ring_wraps_and_truncates)
{
	struct oxa_ring *r;
	ASSERT_EQ(oxa_ring_new(&r, 64), 0);
	uint64_t w[20], out[20], tag;
	uint64_t seq = 0;
	/* Odd record sizes walk every offset across the end of the buffer. */
	for (int round = 0; round < 1000; round++) {
		size_t n = 1 + (size_t)(round % 13);
		for (size_t i = 0; i < n; i++)
			w[i] = seq * 31 + i;
		ASSERT_EQ(oxa_ring_push(r, seq, w, n), 0);
		ASSERT_EQ(oxa_ring_push(r, seq + 1, w, n), 0);
		for (int k = 0; k < 2; k++) {
			ASSERT_EQ(oxa_ring_pop(r, &tag, out, 20), n);
			ASSERT_EQ(tag, seq + (uint64_t)k);
			for (size_t i = 0; i < n; i++)
				ASSERT_EQ(out[i], seq * 31 + i);
		}
		seq += 2;
	}
	/* A caller buffer smaller than the record gets a prefix, and the
	 * whole record is consumed. */
	for (size_t i = 0; i < 10; i++)
		w[i] = i;
	ASSERT_EQ(oxa_ring_push(r, 5, w, 10), 0);
	ASSERT_EQ(oxa_ring_push(r, 6, w, 1), 0);
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 3), 10);
	ASSERT_EQ(out[2], 2);
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 3), 1);
	ASSERT_EQ(tag, 6);
	oxa_ring_push(r, 7, w, 5);
	oxa_ring_reset(r);
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 3), 0);
	ASSERT_EQ(oxa_ring_push(r, 8, w, 2), 0);
	ASSERT_EQ(oxa_ring_pop(r, &tag, out, 3), 2);
	ASSERT_EQ(tag, 8);
	oxa_ring_free(r);
}

#define PRODUCERS 4
#define PER_PRODUCER 200000

static struct oxa_ring *mp_ring;
static atomic_int mp_done;
static uint64_t mp_ok[PRODUCERS];

static void *producer(void *arg)
{
	uint64_t id = (uint64_t)(uintptr_t)arg;
	uint64_t w[9];
	for (uint64_t seq = 0; seq < PER_PRODUCER; seq++) {
		size_t n = 1 + (size_t)(seq % 9);
		for (size_t i = 0; i < n; i++)
			w[i] = (id << 56) ^ (seq * 7 + i);
		if (oxa_ring_push(mp_ring, id << 32 | (seq & 0xffffffff), w,
				  n) == 0)
			mp_ok[id]++;
	}
	atomic_fetch_add(&mp_done, 1);
	return NULL;
}

TEST(agent_ring_many_producers_one_consumer)
{
	ASSERT_EQ(oxa_ring_new(&mp_ring, 4096), 0);
	pthread_t t[PRODUCERS];
	for (uintptr_t i = 0; i < PRODUCERS; i++)
		ASSERT_EQ(pthread_create(&t[i], NULL, producer, (void *)i), 0);
	uint64_t got[PRODUCERS] = { 0 }, last[PRODUCERS];
	int seen[PRODUCERS] = { 0 };
	uint64_t out[9], tag;
	for (;;) {
		int done = atomic_load(&mp_done) == PRODUCERS;
		size_t n = oxa_ring_pop(mp_ring, &tag, out, 9);
		if (n == 0) {
			if (done)
				break;
			continue;
		}
		uint64_t id = tag >> 32, seq = tag & 0xffffffff;
		ASSERT(id < PRODUCERS);
		ASSERT_EQ(n, 1 + seq % 9);
		for (size_t i = 0; i < n; i++)
			ASSERT_EQ(out[i], (id << 56) ^ (seq * 7 + i));
		/* One producer's records come out in its order. */
		if (seen[id])
			ASSERT(seq > last[id]);
		seen[id] = 1;
		last[id] = seq;
		got[id]++;
	}
	uint64_t total = 0, ok = 0;
	for (int i = 0; i < PRODUCERS; i++) {
		pthread_join(t[i], NULL);
		ASSERT_EQ(got[i], mp_ok[i]);
		total += got[i];
		ok += mp_ok[i];
	}
	/* Every push either arrived or was counted as a drop. */
	ASSERT_EQ(total + oxa_ring_dropped(mp_ring),
		  (uint64_t)PRODUCERS * PER_PRODUCER);
	printf("  mpsc: %llu delivered, %llu dropped\n",
	       (unsigned long long)total,
	       (unsigned long long)oxa_ring_dropped(mp_ring));
	oxa_ring_free(mp_ring);
}

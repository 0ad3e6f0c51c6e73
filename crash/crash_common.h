/*
 * crash_common.h: what the crash harness (crash_harness.c, the parent that
 * kills and checks) and its writer (crash_writer.c, the child that is
 * killed) must agree on: the ids each writer thread may touch, and the
 * payload of every (id, version), generated deterministically so that the
 * parent can regenerate the exact bytes a child stored.
 *
 * Pipe protocol (child -> parent, one line per write(2), each well under
 * PIPE_BUF so that lines from different threads never interleave):
 *
 *   R <pid> <open_us> <tail_off> <tail_bytes>
 *                                           the store is open (and cut this
 *                                           torn tail; 0 0: none); writing
 *                                           starts
 *   B <op> <thread> <kind> <n> <entries>    about to call walstore
 *   A <op> ok|nf                            the call returned WAL_OK
 *                                           (nf: wal_delete -> WAL_NOT_FOUND)
 *   F <thread> <op> <call> <status> <msg>   unexpected status; child exits
 *
 * kind: S wal_store of an owned id, T wal_store_batch of owned ids, D
 * wal_delete of an owned id, H wal_store of a shared ("hot") id, X
 * wal_delete of a hot id, P wal_snapshot (n = 0).
 * entry: <id>:<version>:<len>:<fingerprint hex> (deletes: <id>:0:0:0).
 */
#ifndef CRASH_COMMON_H
#define CRASH_COMMON_H

#include <stddef.h>
#include <stdint.h>
#include <string.h>

#define CRASH_MAX_THREADS 8
/* Ids owned by one writer thread: only that thread writes them, so their
 * operations are totally ordered and "the last acknowledged write" is
 * exact. */
#define CRASH_OWNED_PER_THREAD 40
/* Hot ids: every thread stores and deletes them concurrently. */
#define CRASH_NHOT 8
#define CRASH_BATCH_MAX 8
#define CRASH_MAX_PAYLOAD 65536u
#define CRASH_MSG_MAX 1024

static inline uint64_t crash_mix64(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

/* splitmix64 step: a small, seedable PRNG. */
static inline uint64_t crash_next(uint64_t *state)
{
    *state += 0x9E3779B97F4A7C15ull;
    uint64_t z = *state;
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Owned id number k (0 <= k < CRASH_OWNED_PER_THREAD) of thread t. Every
 * fifth id is a large 64-bit value. */
static inline uint64_t crash_owned_id(int nthreads, int t, int k)
{
    uint64_t idx = (uint64_t)k * (uint64_t)nthreads + (uint64_t)t;
    return (k % 5 == 4) ? 0xFFFFFFFF00000000ull + idx : 1 + idx;
}

static inline uint64_t crash_hot_id(int h)
{
    return 9001 + (uint64_t)h;
}

/* The length of version `ver` of `id`: 5% empty, then mostly small, 10%
 * between 8 KiB and 64 KiB. */
static inline size_t crash_payload_len(uint64_t id, uint64_t ver)
{
    uint64_t h = crash_mix64(id ^ crash_mix64(ver ^ 0x1E4Full));
    uint64_t r = h % 1000, v = h >> 20;
    if (r < 50) {
        return 0;
    }
    if (r < 400) {
        return 1 + (size_t)(v % 64);
    }
    if (r < 700) {
        return 65 + (size_t)(v % 960);
    }
    if (r < 900) {
        return 1025 + (size_t)(v % 7168);
    }
    return 8193 + (size_t)(v % (CRASH_MAX_PAYLOAD - 8193 + 1));
}

/* The bytes of version `ver` of `id`. */
static inline void crash_payload_fill(uint64_t id, uint64_t ver, uint8_t *buf, size_t len)
{
    uint64_t st = crash_mix64(id * 0x2545F4914F6CDD1Dull ^ crash_mix64(ver));
    size_t i = 0;
    while (i < len) {
        uint64_t x = crash_next(&st);
        size_t n = len - i < 8 ? len - i : 8;
        memcpy(buf + i, &x, n);
        i += n;
    }
}

/* FNV-1a 64 over the length and the bytes. */
static inline uint64_t crash_fingerprint(const uint8_t *buf, size_t len)
{
    uint64_t h = 0xCBF29CE484222325ull;
    uint64_t l = (uint64_t)len;
    for (int i = 0; i < 8; i++) {
        h = (h ^ ((l >> (8 * i)) & 0xFF)) * 0x100000001B3ull;
    }
    for (size_t i = 0; i < len; i++) {
        h = (h ^ buf[i]) * 0x100000001B3ull;
    }
    return h;
}

#endif /* CRASH_COMMON_H */

/*
 * crash_writer.c: the child of the crash harness (crash_harness.c), started
 * with fork+exec and killed with SIGKILL at a random moment.
 *
 *   crash_writer <dir> <fd> <seed> <cycle> <threads> <snapshots 0|1> <threshold>
 *
 * Opens <dir> with WAL_DURABILITY_FSYNC and WAL_RECOVERY_STRICT, automatic
 * snapshots every <threshold> bytes of log growth, and automatic compaction
 * once the log reaches 4 x <threshold> bytes with half of them dead
 * (<threshold> 0: neither), then runs <threads> threads that store,
 * batch-store, delete and overwrite payloads (and, with snapshots on, now
 * and then call wal_snapshot or wal_compact) for ever. Before
 * each call a thread writes a "begin" line to <fd>, and after WAL_OK an
 * "ack" line; the protocol is in crash_common.h. Any other status is a
 * failure: an "F" line, then exit 3. The child never exits on its own
 * except after 60 s (a guard in case the parent is gone).
 *
 * Uses only the public C API (include/walstore.h).
 */
#define _POSIX_C_SOURCE 200809L

#include "crash_common.h"
#include "walstore.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static wal_t *g_w;
static int g_fd;
static uint64_t g_seed;
static uint64_t g_cycle;
static int g_nthreads;
static int g_snapshots;
static atomic_uint_fast64_t g_opid;
static atomic_uint_fast64_t g_ver;

/* One write(2) per line: at most CRASH_MSG_MAX < PIPE_BUF bytes, so it is
 * atomic with respect to the other threads' lines. */
static void emit(const char *msg, size_t n)
{
    ssize_t r = write(g_fd, msg, n);
    if (r != (ssize_t)n) {
        _exit(5);
    }
}

static void fail(int t, uint64_t op, const char *call, wal_status s)
{
    char err[512];
    snprintf(err, sizeof err, "%s", wal_last_error());
    for (char *p = err; *p; p++) {
        if (*p == '\n') {
            *p = ' ';
        }
    }
    char msg[CRASH_MSG_MAX];
    int n = snprintf(msg, sizeof msg, "F %d %" PRIu64 " %s %d %s\n", t, op, call, (int)s, err);
    if (n < 0 || (size_t)n >= sizeof msg) {
        n = (int)sizeof msg - 1;
        msg[n - 1] = '\n';
    }
    emit(msg, (size_t)n);
    _exit(3);
}

static uint64_t new_version(void)
{
    return (g_cycle << 32) | (uint64_t)(atomic_fetch_add(&g_ver, 1) + 1);
}

static void ack(uint64_t op, const char *res)
{
    char msg[64];
    int n = snprintf(msg, sizeof msg, "A %" PRIu64 " %s\n", op, res);
    emit(msg, (size_t)n);
}

/* Appends " id:ver:len:fp" for one payload, generating it into buf. */
static int add_entry(char *msg, int n, uint64_t id, uint8_t *buf, size_t *len_out, uint64_t *ver_out)
{
    uint64_t ver = new_version();
    size_t len = crash_payload_len(id, ver);
    crash_payload_fill(id, ver, buf, len);
    uint64_t fp = crash_fingerprint(buf, len);
    *len_out = len;
    *ver_out = ver;
    return n + snprintf(msg + n, (size_t)(CRASH_MSG_MAX - n), " %" PRIu64 ":%" PRIu64 ":%zu:%016" PRIx64, id,
                        ver, len, fp);
}

struct thread_arg {
    int t;
};

static void *writer_main(void *p)
{
    const int t = ((struct thread_arg *)p)->t;
    uint64_t rng = crash_mix64(g_seed ^ crash_mix64(g_cycle * 64 + (uint64_t)t + 1));
    uint8_t *bufs[CRASH_BATCH_MAX];
    for (int i = 0; i < CRASH_BATCH_MAX; i++) {
        bufs[i] = malloc(CRASH_MAX_PAYLOAD);
        if (bufs[i] == NULL) {
            fail(t, 0, "malloc", WAL_OK);
        }
    }
    char msg[CRASH_MSG_MAX];
    for (;;) {
        const uint64_t op = atomic_fetch_add(&g_opid, 1) + 1;
        const uint64_t r = crash_next(&rng) % 100;
        int n;
        if (r < 42) { /* store (new id or overwrite) of an owned id */
            uint64_t id = crash_owned_id(g_nthreads, t, (int)(crash_next(&rng) % CRASH_OWNED_PER_THREAD));
            size_t len;
            uint64_t ver;
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d S 1", op, t);
            n = add_entry(msg, n, id, bufs[0], &len, &ver);
            msg[n++] = '\n';
            emit(msg, (size_t)n);
            wal_status s = wal_store(g_w, id, len ? bufs[0] : NULL, len);
            if (s != WAL_OK) {
                fail(t, op, "wal_store", s);
            }
            ack(op, "ok");
        } else if (r < 62) { /* batch of 2..8 owned ids, sometimes one id twice */
            int count = 2 + (int)(crash_next(&rng) % (CRASH_BATCH_MAX - 1));
            wal_entry e[CRASH_BATCH_MAX];
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d T %d", op, t, count);
            for (int i = 0; i < count; i++) {
                uint64_t id;
                if (i > 0 && crash_next(&rng) % 8 == 0) {
                    id = e[crash_next(&rng) % (uint64_t)i].id; /* later entry wins */
                } else {
                    id = crash_owned_id(g_nthreads, t, (int)(crash_next(&rng) % CRASH_OWNED_PER_THREAD));
                }
                size_t len;
                uint64_t ver;
                n = add_entry(msg, n, id, bufs[i], &len, &ver);
                e[i].id = id;
                e[i].data = len ? bufs[i] : NULL;
                e[i].len = len;
            }
            msg[n++] = '\n';
            emit(msg, (size_t)n);
            wal_status s = wal_store_batch(g_w, e, (size_t)count);
            if (s != WAL_OK) {
                fail(t, op, "wal_store_batch", s);
            }
            ack(op, "ok");
        } else if (r < 74 || r >= 98 - 2 * !g_snapshots) { /* delete of an owned id */
            uint64_t id = crash_owned_id(g_nthreads, t, (int)(crash_next(&rng) % CRASH_OWNED_PER_THREAD));
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d D 1 %" PRIu64 ":0:0:0\n", op, t, id);
            emit(msg, (size_t)n);
            wal_status s = wal_delete(g_w, id);
            if (s != WAL_OK && s != WAL_NOT_FOUND) {
                fail(t, op, "wal_delete", s);
            }
            ack(op, s == WAL_OK ? "ok" : "nf");
        } else if (r < 90) { /* store of a hot id, shared by all threads */
            uint64_t id = crash_hot_id((int)(crash_next(&rng) % CRASH_NHOT));
            size_t len;
            uint64_t ver;
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d H 1", op, t);
            n = add_entry(msg, n, id, bufs[0], &len, &ver);
            msg[n++] = '\n';
            emit(msg, (size_t)n);
            wal_status s = wal_store(g_w, id, len ? bufs[0] : NULL, len);
            if (s != WAL_OK) {
                fail(t, op, "wal_store", s);
            }
            ack(op, "ok");
        } else if (r < 96) { /* delete of a hot id */
            uint64_t id = crash_hot_id((int)(crash_next(&rng) % CRASH_NHOT));
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d X 1 %" PRIu64 ":0:0:0\n", op, t, id);
            emit(msg, (size_t)n);
            wal_status s = wal_delete(g_w, id);
            if (s != WAL_OK && s != WAL_NOT_FOUND) {
                fail(t, op, "wal_delete", s);
            }
            ack(op, s == WAL_OK ? "ok" : "nf");
        } else { /* 96..97: snapshot or compaction (only with snapshots on) */
            /* Neither changes what the store holds, so the harness checks
               both the same way. */
            const bool compact = (crash_next(&rng) & 1) != 0;
            n = snprintf(msg, sizeof msg, "B %" PRIu64 " %d P 0\n", op, t);
            emit(msg, (size_t)n);
            wal_status s = compact ? wal_compact(g_w) : wal_snapshot(g_w);
            if (s != WAL_OK) {
                fail(t, op, compact ? "wal_compact" : "wal_snapshot", s);
            }
            ack(op, "ok");
        }
    }
    return NULL;
}

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int main(int argc, char **argv)
{
    if (argc != 8) {
        fprintf(stderr, "usage: %s <dir> <fd> <seed> <cycle> <threads> <snapshots 0|1> <threshold>\n", argv[0]);
        return 2;
    }
    g_fd = atoi(argv[2]);
    g_seed = strtoull(argv[3], NULL, 10);
    g_cycle = strtoull(argv[4], NULL, 10);
    g_nthreads = atoi(argv[5]);
    g_snapshots = atoi(argv[6]);
    const uint64_t threshold = strtoull(argv[7], NULL, 10);
    if (g_nthreads < 1 || g_nthreads > CRASH_MAX_THREADS || g_cycle == 0) {
        fprintf(stderr, "crash_writer: bad arguments\n");
        return 2;
    }

    const uint64_t t0 = now_us();
    wal_options *opts = wal_options_new();
    if (opts == NULL) {
        fail(-1, 0, "wal_options_new", WAL_PANIC);
    }
    wal_status s = wal_options_set_durability(opts, WAL_DURABILITY_FSYNC);
    if (s != WAL_OK) {
        fail(-1, 0, "wal_options_set_durability", s);
    }
    s = wal_options_set_recovery_mode(opts, WAL_RECOVERY_STRICT);
    if (s != WAL_OK) {
        fail(-1, 0, "wal_options_set_recovery_mode", s);
    }
    s = wal_options_set_auto_snapshot(opts, threshold > 0);
    if (s != WAL_OK) {
        fail(-1, 0, "wal_options_set_auto_snapshot", s);
    }
    if (threshold > 0) {
        s = wal_options_set_snapshot_threshold(opts, threshold);
        if (s != WAL_OK) {
            fail(-1, 0, "wal_options_set_snapshot_threshold", s);
        }
    }
    s = wal_options_set_auto_compact(opts, threshold > 0 ? 0.5 : 0.0, 4 * threshold);
    if (s != WAL_OK) {
        fail(-1, 0, "wal_options_set_auto_compact", s);
    }
    s = wal_open(argv[1], opts, &g_w);
    wal_options_free(opts);
    if (s != WAL_OK) {
        fail(-1, 0, "wal_open", s);
    }

    const uint64_t open_us = now_us() - t0;
    uint64_t toff = 0, tbytes = 0;
    s = wal_open_torn_tail(g_w, &toff, &tbytes);
    if (s != WAL_OK && s != WAL_NOT_FOUND) {
        fail(-1, 0, "wal_open_torn_tail", s);
    }
    char msg[128];
    int n = snprintf(msg, sizeof msg, "R %ld %" PRIu64 " %" PRIu64 " %" PRIu64 "\n", (long)getpid(), open_us, toff,
                     tbytes);
    emit(msg, (size_t)n);

    pthread_t th[CRASH_MAX_THREADS];
    struct thread_arg args[CRASH_MAX_THREADS];
    for (int t = 0; t < g_nthreads; t++) {
        args[t].t = t;
        if (pthread_create(&th[t], NULL, writer_main, &args[t]) != 0) {
            fail(t, 0, "pthread_create", WAL_OK);
        }
    }
    /* The parent kills us long before this. */
    sleep(60);
    fprintf(stderr, "crash_writer: not killed after 60 s, exiting\n");
    _exit(4);
}

/*
 * walstore benchmark driver: one workload per process.
 *
 *   bench-<engine> WORKLOAD DIR
 *
 * WORKLOAD is one of LOAD W1 W1-NONE W1-CEIL W2 W3 W3-8 W4 W5 W6 DISK-CEIL
 * (see benches/README.md). W4 and W5 read the store LOAD left in DIR; every
 * other workload wants DIR fresh. W1-CEIL and DISK-CEIL open no engine and
 * print their lines with the engine name "ceiling", so any bench binary can
 * run them: W1-CEIL times a bare loop of one pwrite(2) per store into
 * DIR/ceiling.dat; DISK-CEIL times pwrite(1 MiB) + fdatasync loops, first
 * appending to DIR/disk-append.dat, then overwriting DIR/disk-overwrite.dat,
 * written and synced beforehand. Each result is one tab-separated line on
 * stdout:
 *
 *   engine workload ops bytes secs ops_per_s mb_per_s p50_us p99_us
 *   maxrss_kb note
 *
 * (W5 prints two lines for walstore: W5 without a snapshot, W5-snap with
 * one; W6 prints W6-store and W6-read; DISK-CEIL prints DISK-APPEND and
 * DISK-OVERWRITE.) Progress goes to stderr.
 *
 * Environment: BENCH_SCALE (default 1.0) scales every count; BENCH_SEED
 * (default 42) seeds the values and the read order; BENCH_KEYS=seq|random
 * (default seq) chooses ids 0,1,2,... or the same ids scattered over the
 * u64 range by a bijection.
 *
 * Timing. The timed regions hold only engine calls: values are generated
 * (and reads verified) between them. Throughput is ops over the sum of the
 * timed regions. Workloads of more than 65536 operations run in chunks of
 * 256 operations, each chunk timed as a whole, and time every 16th
 * operation alone for the latency percentiles (a clock read costs ~80 ns
 * here); smaller ones time every operation.
 */
#define _POSIX_C_SOURCE 200809L

#include "bench.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#define SMALL_VAL 100u
#define W2_VAL 1024u
#define W2_BATCH 1000u
#define W6_VAL (1024u * 1024u)
#define CHUNK 256u
#define SAMPLE_EVERY 16u
#define W38_THREADS 8u
/* walstore's log record for a SMALL_VAL payload: a 32-byte record header
 * and the payload (W1 at 1,000,000 stores reports log_mb=132.0). */
#define REC_HEADER 32u
#define CEIL_REC (REC_HEADER + SMALL_VAL)

static double g_scale = 1.0;
static uint64_t g_seed = 42;
static int g_random_keys = 0;

/* ---------------------------------------------------------------- utils */

static void die(const char *what) {
    fprintf(stderr, "bench-%s: %s\n", eng_name(), what);
    exit(1);
}

static void *xmalloc(size_t n) {
    void *p = malloc(n ? n : 1);
    if (!p) die("out of memory");
    return p;
}

static uint64_t now_ns(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t splitmix64(uint64_t *s) {
    uint64_t z = (*s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static uint64_t scaled(uint64_t n) {
    double v = (double)n * g_scale + 0.5;
    return v < 1.0 ? 1 : (uint64_t)v;
}

/* The i-th id of a workload: i itself, or (BENCH_KEYS=random) i pushed
 * through a bijection of the u64 range, so ids are distinct either way. */
static uint64_t key_of(uint64_t i) {
    if (!g_random_keys) return i;
    uint64_t z = i * 0x9E3779B97F4A7C15ull;
    z ^= z >> 29;
    z *= 0xBF58476D1CE4E5B9ull;
    return z ^ (z >> 32);
}

/* The value stored under id: len random bytes, a function of (seed, id),
 * so any read can be checked. */
static void value_fill(uint64_t id, uint8_t *buf, size_t len) {
    uint64_t s = g_seed ^ (id * 0xD6E8FEB86659FD93ull);
    size_t i = 0;
    for (; i + 8 <= len; i += 8) {
        uint64_t r = splitmix64(&s);
        memcpy(buf + i, &r, 8);
    }
    if (i < len) {
        uint64_t r = splitmix64(&s);
        memcpy(buf + i, &r, len - i);
    }
}

static void check_value(uint64_t id, const uint8_t *got, size_t got_len, size_t want_len,
                        uint8_t *scratch) {
    if (got_len != want_len) {
        fprintf(stderr, "bench-%s: id %llu read back %zu bytes, stored %zu\n", eng_name(),
                (unsigned long long)id, got_len, want_len);
        exit(1);
    }
    value_fill(id, scratch, want_len);
    if (memcmp(got, scratch, want_len) != 0) {
        fprintf(stderr, "bench-%s: id %llu read back different bytes than stored\n", eng_name(),
                (unsigned long long)id);
        exit(1);
    }
}

static long maxrss_kb(void) {
    struct rusage ru;
    if (getrusage(RUSAGE_SELF, &ru) != 0) return -1;
    return ru.ru_maxrss;
}

/* Anonymous resident memory (heap, not file pages), from /proc. */
static long rss_anon_kb(void) {
    FILE *f = fopen("/proc/self/status", "r");
    if (!f) return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, "RssAnon:", 8) == 0) {
            kb = strtol(line + 8, NULL, 10);
            break;
        }
    }
    fclose(f);
    return kb;
}

static void ensure_dir(const char *dir) {
    if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
        perror(dir);
        exit(1);
    }
}

/* ----------------------------------------------------------- latencies */

typedef struct {
    uint64_t *ns;
    size_t n, cap;
} lat_t;

static void lat_init(lat_t *l, size_t cap) {
    l->ns = xmalloc(cap * sizeof *l->ns);
    l->n = 0;
    l->cap = cap;
}

static void lat_add(lat_t *l, uint64_t ns) {
    if (l->n < l->cap) l->ns[l->n++] = ns;
}

static int cmp_u64(const void *a, const void *b) {
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile, in microseconds; -1 without samples. */
static double lat_pct(lat_t *l, double p) {
    if (l->n == 0) return -1;
    qsort(l->ns, l->n, sizeof *l->ns, cmp_u64);
    size_t rank = (size_t)(p / 100.0 * (double)l->n + 0.999999);
    if (rank < 1) rank = 1;
    if (rank > l->n) rank = l->n;
    return (double)l->ns[rank - 1] / 1000.0;
}

/* -------------------------------------------------------------- output */

/* One result line; engine is eng_name() except for W1-CEIL and DISK-CEIL
 * ("ceiling"). */
static void emit(const char *engine, const char *workload, uint64_t ops, uint64_t bytes,
                 uint64_t ns, lat_t *lat, const char *note) {
    double secs = (double)ns / 1e9;
    double ops_s = secs > 0 ? (double)ops / secs : 0;
    double mb_s = secs > 0 ? (double)bytes / secs / 1e6 : 0;
    double p50 = lat ? lat_pct(lat, 50) : -1, p99 = lat ? lat_pct(lat, 99) : -1;
    printf("%s\t%s\t%llu\t%llu\t%.6f\t%.1f\t%.2f\t%.2f\t%.2f\t%ld\t%s\n", engine, workload,
           (unsigned long long)ops, (unsigned long long)bytes, secs, ops_s, mb_s, p50, p99,
           maxrss_kb(), note && *note ? note : "-");
    fflush(stdout);
    fprintf(stderr, "  [%s %s] %llu ops in %.3f s: %.0f ops/s, %.1f MB/s", engine, workload,
            (unsigned long long)ops, secs, ops_s, mb_s);
    if (p50 >= 0) fprintf(stderr, ", p50 %.1f us, p99 %.1f us", p50, p99);
    fprintf(stderr, "\n");
}

static eng *open_or_die(const char *dir, int durability, int auto_snapshots, uint64_t bytes) {
    bench_cfg cfg = {durability, auto_snapshots, bytes};
    eng *e = NULL;
    if (eng_open(dir, &cfg, &e) != 0) die("open failed");
    return e;
}

static void close_or_die(eng *e) {
    if (eng_close(e) != 0) die("close failed");
}

static void appendf(char *buf, size_t cap, const char *fmt, double v) {
    size_t used = strlen(buf);
    if (used < cap) snprintf(buf + used, cap - used, fmt, v);
}

/* ------------------------------------------- single puts (W1, W3, W6) */

/* What one timed store needs: the engine (or, for W1-CEIL, the file) and
 * the record length. */
typedef struct {
    eng *e;
    int fd;
    size_t len;
} put_ctx;

/* Builds record i into buf (untimed); stores it (timed). */
typedef void (*fill_fn)(const put_ctx *c, uint64_t i, uint8_t *buf);
typedef void (*put_fn)(const put_ctx *c, uint64_t i, const uint8_t *buf);

/* n stores of c->len bytes each, records 0..n-1. Records are built between
 * timed regions; above 65536 operations in chunks of CHUNK, each chunk
 * timed as a whole, and every SAMPLE_EVERY-th store timed alone for the
 * percentiles; otherwise every store alone. Every workload of single
 * stores, and the ceiling, is timed by this one loop (an indirect call per
 * store costs all of them the same, about a nanosecond). */
static uint64_t run_timed(const put_ctx *c, uint64_t n, fill_fn fill, put_fn put, lat_t *lat) {
    int chunked = n > 65536;
    size_t per = chunked ? CHUNK : 1;
    uint8_t *bufs = xmalloc(per * c->len);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i += per) {
        size_t m = (size_t)(n - i < per ? n - i : per);
        for (size_t j = 0; j < m; j++) fill(c, i + j, bufs + j * c->len);
        uint64_t t0 = now_ns();
        for (size_t j = 0; j < m; j++) {
            if (chunked && (i + j) % SAMPLE_EVERY == 0) {
                uint64_t a = now_ns();
                put(c, i + j, bufs + j * c->len);
                lat_add(lat, now_ns() - a);
            } else {
                put(c, i + j, bufs + j * c->len);
            }
        }
        uint64_t dt = now_ns() - t0;
        total += dt;
        if (!chunked) lat_add(lat, dt);
    }
    free(bufs);
    return total;
}

static void fill_value(const put_ctx *c, uint64_t i, uint8_t *buf) {
    value_fill(key_of(i), buf, c->len);
}

static void put_value(const put_ctx *c, uint64_t i, const uint8_t *buf) {
    if (eng_put(c->e, key_of(i), buf, c->len) != 0) die("put failed");
}

/* n puts of len bytes each, ids key_of(0..n-1). */
static uint64_t run_puts(eng *e, uint64_t n, size_t len, lat_t *lat) {
    put_ctx c = {e, -1, len};
    return run_timed(&c, n, fill_value, put_value, lat);
}

static void verify_some(eng *e, uint64_t n, size_t len) {
    uint8_t *buf = xmalloc(len), *scratch = xmalloc(len);
    uint64_t probes[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        size_t got = 0;
        uint64_t id = key_of(probes[k]);
        if (eng_get(e, id, buf, len, &got) != 0) die("a stored id does not read back");
        check_value(id, buf, got, len, scratch);
    }
    free(buf);
    free(scratch);
}

static void w_puts(const char *dir, const char *name, int durability, uint64_t n, size_t len) {
    lat_t lat;
    lat_init(&lat, n > 65536 ? n / SAMPLE_EVERY + 1 : n);
    long anon0 = rss_anon_kb();
    eng *e = open_or_die(dir, durability, 1, n * (len + 64));
    uint64_t ns = run_puts(e, n, len, &lat);
    long anon1 = rss_anon_kb();
    verify_some(e, n, len);
    char note[512] = "";
    appendf(note, sizeof note, "anon_growth_b_per_entry=%.1f;",
            (double)(anon1 - anon0) * 1024.0 / (double)n);
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    snprintf(note + strlen(note), sizeof note - strlen(note), "sync=%s",
             eng_describe(durability));
    emit(eng_name(), name, n, n * len, ns, &lat, note);
    close_or_die(e);
    free(lat.ns);
}

/* ------------------------------------ W1-CEIL: one pwrite(2) per store */

/* Record i of W1-CEIL, as walstore would lay it out: a REC_HEADER-byte
 * header (here the id, the payload length and the sequence number; the
 * rest zero) and then W1's SMALL_VAL-byte payload for that id. */
static void ceil_record(const put_ctx *c, uint64_t i, uint8_t *rec) {
    (void)c;
    uint64_t id = key_of(i);
    uint32_t len = SMALL_VAL;
    memset(rec, 0, REC_HEADER);
    memcpy(rec, &id, 8);
    memcpy(rec + 8, &len, 4);
    memcpy(rec + 16, &i, 8);
    value_fill(id, rec + REC_HEADER, SMALL_VAL);
}

/* Record i at its place in the file: one pwrite(2), nothing else. */
static void pwrite_or_die(const put_ctx *c, uint64_t i, const uint8_t *rec) {
    ssize_t w = pwrite(c->fd, rec, CEIL_REC, (off_t)(i * CEIL_REC));
    if (w != (ssize_t)CEIL_REC) {
        fprintf(stderr, "bench-%s: W1-CEIL: pwrite of record %llu: %s\n", eng_name(),
                (unsigned long long)i, w < 0 ? strerror(errno) : "short write");
        exit(1);
    }
}

/* W1-CEIL: W1's stores as bare pwrites into a fresh DIR/ceiling.dat, no
 * engine and no sync. FLUSH hands every store to the OS, so one write
 * system call per store is a floor on a FLUSH store's cost. Printed as
 * engine "ceiling"; bytes are the payload bytes, as in W1. */
static void w1_ceil(const char *dir) {
    uint64_t n = scaled(1000000);
    char path[4096];
    if (snprintf(path, sizeof path, "%s/ceiling.dat", dir) >= (int)sizeof path)
        die("W1-CEIL: directory path too long");
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    lat_t lat;
    lat_init(&lat, n > 65536 ? n / SAMPLE_EVERY + 1 : n);
    put_ctx c = {NULL, fd, CEIL_REC};
    uint64_t ns = run_timed(&c, n, ceil_record, pwrite_or_die, &lat);
    /* Untimed checks: the file size, and three records read back. */
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != n * CEIL_REC)
        die("W1-CEIL: ceiling.dat does not hold every record");
    uint8_t got[CEIL_REC], want[CEIL_REC];
    uint64_t probes[3] = {0, n / 2, n - 1};
    for (int k = 0; k < 3; k++) {
        ceil_record(&c, probes[k], want);
        if (pread(fd, got, CEIL_REC, (off_t)(probes[k] * CEIL_REC)) != (ssize_t)CEIL_REC ||
            memcmp(got, want, CEIL_REC) != 0)
            die("W1-CEIL: a record does not read back");
    }
    if (close(fd) != 0) die("W1-CEIL: close failed");
    char note[256] = "";
    appendf(note, sizeof note, "record_b=%.0f;", (double)CEIL_REC);
    appendf(note, sizeof note, "file_mb=%.1f;", (double)(n * CEIL_REC) / 1e6);
    snprintf(note + strlen(note), sizeof note - strlen(note), "sync=pwrite_per_store_no_engine");
    emit("ceiling", "W1-CEIL", n, n * SMALL_VAL, ns, &lat, note);
    free(lat.ns);
}

/* ------------------- DISK-CEIL: pwrite(1 MiB) + fdatasync, no engine */

#define DISK_STAMP 4096u /* every 4 KiB block of the buffer starts with a stamp */

/* DIR/name into path, or die. */
static void disk_path(char *path, size_t cap, const char *dir, const char *name) {
    if (snprintf(path, cap, "%s/%s", dir, name) >= (int)cap)
        die("DISK-CEIL: directory path too long");
}

/* Makes buf (W6_VAL bytes of random data) the payload of write i of pass
 * `pass`: the first 16 bytes of every 4 KiB block get (pass, i, block), so
 * no two blocks the workload writes are equal and nothing below the file
 * system can deduplicate them. Outside the timed region. */
static void disk_stamp(uint8_t *buf, uint64_t pass, uint64_t i) {
    for (uint64_t b = 0; b < W6_VAL / DISK_STAMP; b++) {
        uint64_t hi = pass << 56 | i, lo = b;
        memcpy(buf + b * DISK_STAMP, &hi, 8);
        memcpy(buf + b * DISK_STAMP + 8, &lo, 8);
    }
}

static void disk_fail(const char *what, const char *call, uint64_t i, const char *why) {
    fprintf(stderr, "bench-%s: DISK-CEIL: %s: %s of MiB %llu failed: %s\n", eng_name(), what,
            call, (unsigned long long)i, why);
    exit(1);
}

/* One W6_VAL-byte pwrite at MiB i; dies on an error or a short write. */
static void disk_pwrite(int fd, const uint8_t *buf, uint64_t i, const char *what) {
    ssize_t w = pwrite(fd, buf, W6_VAL, (off_t)(i * W6_VAL));
    if (w != (ssize_t)W6_VAL) {
        char why[64];
        if (w >= 0) snprintf(why, sizeof why, "wrote %zd of %u bytes", w, W6_VAL);
        disk_fail(what, "pwrite", i, w < 0 ? strerror(errno) : why);
    }
}

/* n writes of W6_VAL bytes at MiB 0, 1, ..., n-1 of fd, each followed by
 * fdatasync; each write + fdatasync is timed, and its time goes to lat.
 * Returns the total nanoseconds. */
static uint64_t run_disk_syncs(int fd, uint64_t n, uint8_t *buf, uint64_t pass, lat_t *lat,
                               const char *what) {
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        disk_stamp(buf, pass, i);
        uint64_t t0 = now_ns();
        disk_pwrite(fd, buf, i, what);
        int rc = fdatasync(fd);
        uint64_t dt = now_ns() - t0;
        if (rc != 0) disk_fail(what, "fdatasync", i, strerror(errno));
        total += dt;
        lat_add(lat, dt);
    }
    return total;
}

/* Checks fd holds exactly n MiB, closes it and unlinks path. */
static void disk_finish(int fd, const char *path, uint64_t n, const char *what) {
    struct stat st;
    if (fstat(fd, &st) != 0 || (uint64_t)st.st_size != n * W6_VAL) {
        fprintf(stderr, "bench-%s: DISK-CEIL: %s: %s does not hold the %llu MiB written\n",
                eng_name(), what, path, (unsigned long long)n);
        exit(1);
    }
    if (close(fd) != 0) die("DISK-CEIL: close failed");
    if (unlink(path) != 0) {
        perror(path);
        exit(1);
    }
}

static int disk_open(const char *path) {
    int fd = open(path, O_RDWR | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) {
        perror(path);
        exit(1);
    }
    return fd;
}

static void disk_emit(const char *workload, uint64_t n, uint64_t ns, lat_t *lat,
                      const char *how) {
    char note[256] = "";
    appendf(note, sizeof note, "write_b=%.0f;", (double)W6_VAL);
    appendf(note, sizeof note, "file_mb=%.1f;", (double)(n * W6_VAL) / 1e6);
    snprintf(note + strlen(note), sizeof note - strlen(note),
             "%s;sync=pwrite_fdatasync_per_write_no_engine", how);
    emit("ceiling", workload, n, n * W6_VAL, ns, lat, note);
}

/* DISK-CEIL: the disk's durable write bandwidth at W6's size and count,
 * with no engine. Two loops of n x (pwrite of 1 MiB + fdatasync):
 *   DISK-APPEND     at increasing offsets into a fresh DIR/disk-append.dat,
 *                   as a log writes: every fdatasync also commits the new
 *                   size and blocks, so this is the ceiling of a log that
 *                   syncs once per MiB;
 *   DISK-OVERWRITE  front to back over DIR/disk-overwrite.dat, written
 *                   to the same size and fsynced first (untimed): no
 *                   metadata to commit, the ceiling of an engine that
 *                   rewrites space allocated earlier.
 * Printed as engine "ceiling"; both files are removed at the end. */
static void disk_ceil(const char *dir) {
    uint64_t n = scaled(500); /* W6's count */
    char apath[4096], opath[4096];
    disk_path(apath, sizeof apath, dir, "disk-append.dat");
    disk_path(opath, sizeof opath, dir, "disk-overwrite.dat");
    uint8_t *buf = xmalloc(W6_VAL);
    value_fill(0xD15C, buf, W6_VAL);
    lat_t lat;

    lat_init(&lat, n);
    int fd = disk_open(apath);
    uint64_t ns = run_disk_syncs(fd, n, buf, 1, &lat, "DISK-APPEND");
    disk_finish(fd, apath, n, "DISK-APPEND");
    disk_emit("DISK-APPEND", n, ns, &lat, "append_to_fresh_file");
    free(lat.ns);

    lat_init(&lat, n);
    fd = disk_open(opath);
    for (uint64_t i = 0; i < n; i++) { /* untimed: the file to overwrite */
        disk_stamp(buf, 2, i);
        disk_pwrite(fd, buf, i, "DISK-OVERWRITE prefill");
    }
    if (fsync(fd) != 0) disk_fail("DISK-OVERWRITE prefill", "fsync", n - 1, strerror(errno));
    ns = run_disk_syncs(fd, n, buf, 3, &lat, "DISK-OVERWRITE");
    disk_finish(fd, opath, n, "DISK-OVERWRITE");
    disk_emit("DISK-OVERWRITE", n, ns, &lat, "overwrite_of_written_fsynced_file");
    free(lat.ns);
    free(buf);
}

/* ------------------------------------------------- batches (LOAD, W2) */

/* total_ops puts of len bytes in batches of `batch` (the last may be
 * smaller). */
static void w_batches(const char *dir, const char *name, int durability, uint64_t total_ops,
                      size_t batch, size_t len, int auto_snapshots) {
    if (batch > total_ops) batch = (size_t)total_ops;
    uint64_t n_batches = (total_ops + batch - 1) / batch;
    lat_t lat;
    lat_init(&lat, n_batches);
    eng *e = open_or_die(dir, durability, auto_snapshots, total_ops * (len + 64));
    uint8_t *vals = xmalloc(batch * len);
    uint64_t *ids = xmalloc(batch * sizeof *ids);
    const uint8_t **ptrs = xmalloc(batch * sizeof *ptrs);
    size_t *lens = xmalloc(batch * sizeof *lens);
    uint64_t total = 0;
    for (uint64_t b = 0; b < n_batches; b++) {
        size_t m = (size_t)(total_ops - b * batch < batch ? total_ops - b * batch : batch);
        for (size_t j = 0; j < m; j++) {
            ids[j] = key_of(b * batch + j);
            value_fill(ids[j], vals + j * len, len);
            ptrs[j] = vals + j * len;
            lens[j] = len;
        }
        uint64_t t0 = now_ns();
        if (eng_put_batch(e, m, ids, ptrs, lens) != 0) die("batch failed");
        uint64_t dt = now_ns() - t0;
        total += dt;
        lat_add(&lat, dt);
    }
    verify_some(e, total_ops, len);
    char note[512] = "latency_per_batch;";
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    snprintf(note + strlen(note), sizeof note - strlen(note), "sync=%s",
             eng_describe(durability));
    emit(eng_name(), name, total_ops, total_ops * len, total, &lat, note);
    close_or_die(e);
    free(vals);
    free(ids);
    free(ptrs);
    free(lens);
    free(lat.ns);
}

/* ------------------------------------------------- W3-8: 8 writer threads */

typedef struct {
    eng *e;
    pthread_barrier_t *bar;
    pthread_mutex_t *mu;
    uint64_t first, n;
    uint8_t *vals;
    uint64_t *lat;
} w38_arg;

static void *w38_thread(void *p) {
    w38_arg *a = p;
    int serial = eng_serial_writers();
    pthread_barrier_wait(a->bar);
    for (uint64_t j = 0; j < a->n; j++) {
        uint64_t t0 = now_ns();
        if (serial) pthread_mutex_lock(a->mu);
        int rc = eng_put(a->e, key_of(a->first + j), a->vals + j * SMALL_VAL, SMALL_VAL);
        if (serial) pthread_mutex_unlock(a->mu);
        if (rc != 0) die("put failed (W3-8)");
        a->lat[j] = now_ns() - t0;
    }
    return NULL;
}

static void w3_8(const char *dir) {
    uint64_t n = scaled(2000);
    if (n < W38_THREADS) n = W38_THREADS;
    uint64_t per = n / W38_THREADS;
    n = per * W38_THREADS;
    eng *e = open_or_die(dir, BENCH_FSYNC, 1, n * (SMALL_VAL + 64));
    pthread_barrier_t bar;
    pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
    pthread_barrier_init(&bar, NULL, W38_THREADS + 1);
    pthread_t th[W38_THREADS];
    w38_arg args[W38_THREADS];
    for (unsigned t = 0; t < W38_THREADS; t++) {
        args[t] = (w38_arg){e, &bar, &mu, t * per, per, xmalloc(per * SMALL_VAL),
                            xmalloc(per * sizeof(uint64_t))};
        for (uint64_t j = 0; j < per; j++)
            value_fill(key_of(t * per + j), args[t].vals + j * SMALL_VAL, SMALL_VAL);
        if (pthread_create(&th[t], NULL, w38_thread, &args[t]) != 0) die("pthread_create");
    }
    pthread_barrier_wait(&bar);
    uint64_t t0 = now_ns();
    for (unsigned t = 0; t < W38_THREADS; t++) pthread_join(th[t], NULL);
    uint64_t wall = now_ns() - t0;
    lat_t lat;
    lat_init(&lat, n);
    for (unsigned t = 0; t < W38_THREADS; t++) {
        for (uint64_t j = 0; j < per; j++) lat_add(&lat, args[t].lat[j]);
        free(args[t].vals);
        free(args[t].lat);
    }
    verify_some(e, n, SMALL_VAL);
    char note[512] = "threads=8;wall_clock;";
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    snprintf(note + strlen(note), sizeof note - strlen(note), "sync=%s%s",
             eng_describe(BENCH_FSYNC), eng_serial_writers() ? ";harness_mutex" : "");
    emit(eng_name(), "W3-8", n, n * SMALL_VAL, wall, &lat, note);
    close_or_die(e);
    pthread_barrier_destroy(&bar);
    free(lat.ns);
}

/* ------------------------------------------------------ W4: random reads */

static void w4(const char *dir) {
    uint64_t n = scaled(1000000), reads = scaled(1000000);
    eng *e = open_or_die(dir, BENCH_FLUSH, 0, n * (SMALL_VAL + 64));
    uint8_t buf[SMALL_VAL * 2], scratch[SMALL_VAL];
    size_t len = 0;
    /* Warm-up: read every id once (untimed), checking one in 1024. */
    for (uint64_t i = 0; i < n; i++) {
        uint64_t id = key_of(i);
        if (eng_get(e, id, buf, sizeof buf, &len) != 0) die("warm-up read failed");
        if (i % 1024 == 0) check_value(id, buf, len, SMALL_VAL, scratch);
    }
    lat_t lat;
    lat_init(&lat, reads / SAMPLE_EVERY + CHUNK);
    uint64_t rng = g_seed ^ 0x5EED5EEDull, ids[CHUNK], total = 0;
    int chunked = reads > 65536;
    size_t per = chunked ? CHUNK : 1;
    for (uint64_t i = 0; i < reads; i += per) {
        size_t m = (size_t)(reads - i < per ? reads - i : per);
        for (size_t j = 0; j < m; j++) ids[j] = key_of(splitmix64(&rng) % n);
        uint64_t t0 = now_ns();
        for (size_t j = 0; j < m; j++) {
            if (chunked && (i + j) % SAMPLE_EVERY == 0) {
                uint64_t a = now_ns();
                if (eng_get(e, ids[j], buf, sizeof buf, &len) != 0) die("read failed");
                lat_add(&lat, now_ns() - a);
            } else if (eng_get(e, ids[j], buf, sizeof buf, &len) != 0) {
                die("read failed");
            }
        }
        uint64_t dt = now_ns() - t0;
        total += dt;
        if (!chunked) lat_add(&lat, dt);
        check_value(ids[m - 1], buf, len, SMALL_VAL, scratch);
    }
    char note[256] = "warm:every_id_read_once_first;";
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    emit(eng_name(), "W4", reads, reads * SMALL_VAL, total, &lat, note);
    close_or_die(e);
    free(lat.ns);
}

/* ------------------------------------------------- W5: close and reopen */

/* Opens, reads one random stored id; returns the nanoseconds taken. */
static uint64_t timed_open(const char *dir, uint64_t n, eng **out) {
    uint8_t buf[SMALL_VAL * 2], scratch[SMALL_VAL];
    size_t len = 0;
    uint64_t rng = g_seed ^ 0x0BE7ull;
    uint64_t id = key_of(splitmix64(&rng) % n);
    uint64_t t0 = now_ns();
    *out = open_or_die(dir, BENCH_FLUSH, 0, n * (SMALL_VAL + 64));
    if (eng_get(*out, id, buf, sizeof buf, &len) != 0) die("first read after open failed");
    uint64_t dt = now_ns() - t0;
    check_value(id, buf, len, SMALL_VAL, scratch);
    return dt;
}

static void w5(const char *dir) {
    uint64_t n = scaled(1000000);
    long anon0 = rss_anon_kb();
    eng *e = NULL;
    uint64_t ns = timed_open(dir, n, &e);
    long anon1 = rss_anon_kb();
    char note[512] = "";
    appendf(note, sizeof note, "entries=%.0f;", (double)n);
    appendf(note, sizeof note, "anon_growth_b_per_entry=%.1f;",
            (double)(anon1 - anon0) * 1024.0 / (double)n);
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    emit(eng_name(), "W5", 1, 0, ns, NULL, note);

    uint64_t t0 = now_ns();
    int rc = eng_snapshot(e);
    uint64_t snap_ns = now_ns() - t0;
    if (rc < 0) die("snapshot failed");
    close_or_die(e);
    if (rc == 1) return; /* no snapshots in this engine */
    ns = timed_open(dir, n, &e);
    snprintf(note, sizeof note, "snapshot_write_ms=%.1f;", (double)snap_ns / 1e6);
    eng_facts(e, note + strlen(note), sizeof note - strlen(note));
    emit(eng_name(), "W5-snap", 1, 0, ns, NULL, note);
    close_or_die(e);
}

/* -------------------------------------------- W6: 1 MiB payloads, fsync */

static void w6(const char *dir) {
    uint64_t n = scaled(500);
    lat_t lat;
    lat_init(&lat, n);
    eng *e = open_or_die(dir, BENCH_FSYNC, 1, n * (W6_VAL + 4096));
    uint64_t ns = run_puts(e, n, W6_VAL, &lat);
    char note[512] = "";
    eng_facts(e, note, sizeof note);
    snprintf(note + strlen(note), sizeof note - strlen(note), "sync=%s",
             eng_describe(BENCH_FSYNC));
    emit(eng_name(), "W6-store", n, n * W6_VAL, ns, &lat, note);

    lat_t rl;
    lat_init(&rl, n);
    uint8_t *buf = xmalloc(W6_VAL), *scratch = xmalloc(W6_VAL);
    uint64_t total = 0;
    for (uint64_t i = 0; i < n; i++) {
        size_t len = 0;
        uint64_t t0 = now_ns();
        if (eng_get(e, key_of(i), buf, W6_VAL, &len) != 0) die("read failed (W6)");
        uint64_t dt = now_ns() - t0;
        total += dt;
        lat_add(&rl, dt);
        check_value(key_of(i), buf, len, W6_VAL, scratch);
    }
    emit(eng_name(), "W6-read", n, n * W6_VAL, total, &rl, "in_store_order");
    close_or_die(e);
    free(buf);
    free(scratch);
    free(lat.ns);
    free(rl.ns);
}

/* ----------------------------------------------------------------- main */

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr,
                "usage: %s WORKLOAD DIR\n"
                "WORKLOAD: LOAD W1 W1-NONE W1-CEIL W2 W3 W3-8 W4 W5 W6 DISK-CEIL\n"
                "(W4, W5 need LOAD first)\n",
                argv[0]);
        return 2;
    }
    const char *s = getenv("BENCH_SCALE");
    if (s && *s) {
        g_scale = strtod(s, NULL);
        if (!(g_scale > 0)) die("BENCH_SCALE must be a positive number");
    }
    s = getenv("BENCH_SEED");
    if (s && *s) g_seed = strtoull(s, NULL, 10);
    s = getenv("BENCH_KEYS");
    if (s && strcmp(s, "random") == 0) g_random_keys = 1;
    else if (s && *s && strcmp(s, "seq") != 0) die("BENCH_KEYS must be seq or random");

    const char *w = argv[1], *dir = argv[2];
    ensure_dir(dir);
    if (strcmp(w, "LOAD") == 0)
        w_batches(dir, "LOAD", BENCH_FLUSH, scaled(1000000), 1000, SMALL_VAL, 0);
    else if (strcmp(w, "W1") == 0)
        w_puts(dir, "W1", BENCH_FLUSH, scaled(1000000), SMALL_VAL);
    else if (strcmp(w, "W1-NONE") == 0)
        w_puts(dir, "W1-NONE", BENCH_NONE, scaled(1000000), SMALL_VAL);
    else if (strcmp(w, "W1-CEIL") == 0)
        w1_ceil(dir);
    else if (strcmp(w, "W2") == 0)
        w_batches(dir, "W2", BENCH_FSYNC, scaled(1000) * W2_BATCH, W2_BATCH, W2_VAL, 1);
    else if (strcmp(w, "W3") == 0)
        w_puts(dir, "W3", BENCH_FSYNC, scaled(2000), SMALL_VAL);
    else if (strcmp(w, "W3-8") == 0)
        w3_8(dir);
    else if (strcmp(w, "W4") == 0)
        w4(dir);
    else if (strcmp(w, "W5") == 0)
        w5(dir);
    else if (strcmp(w, "W6") == 0)
        w6(dir);
    else if (strcmp(w, "DISK-CEIL") == 0)
        disk_ceil(dir);
    else
        die("unknown workload");
    return 0;
}

/*
 * test_walstore.c: the C test of walstore's public ABI (include/walstore.h).
 *
 * `make c-test` builds it with -std=c11 -Wall -Wextra -Wpedantic -Werror and
 * ASan/UBSan (LeakSanitizer included) and runs it. It calls every function
 * the header declares, reaches every status C can reach without fault
 * injection, and asserts the exact status of every call. The first failed
 * check prints file:line, the expression, the actual and expected status and
 * wal_last_error(), then aborts.
 *
 * Every scenario works in its own fresh directory under /tmp
 * (/tmp/walstore-ctest-XXXXXX), removed when the test passes.
 *
 * The on-disk layout the damage tests rely on (checked in section 4):
 *   log = wal-0000000000000001.log = 64-byte file header + records;
 *   record = 32-byte header [type u8 | flags u8 | reserved u16 |
 *            payload len u32 LE | seq u64 LE | id u64 LE | payload CRC u32 |
 *            header CRC u32] + payload.
 * So in a fresh store the first record starts at byte 64 and its payload at
 * byte 96, and equal-sized records of L bytes sit 32 + L bytes apart.
 */
#define _XOPEN_SOURCE 700

#include "walstore.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <unistd.h>

/* ------------------------------------------------------------------------ */
/* Check macros                                                             */
/* ------------------------------------------------------------------------ */

static atomic_ulong g_checks;
/* Bit s is set once a CHECK_STATUS expecting status s has passed. */
static atomic_uint g_reached;

#define MAX_DIRS 64
static char g_dirs[MAX_DIRS][64];
static int g_ndirs;

static const char *status_name(wal_status s)
{
    static const char *const names[] = {
        "WAL_OK",         "WAL_NOT_FOUND",  "WAL_INVALID_ARGUMENT", "WAL_BUFFER_TOO_SMALL",
        "WAL_IO",         "WAL_NO_SPACE",   "WAL_CORRUPTION",       "WAL_LOCKED",
        "WAL_INCOMPATIBLE", "WAL_POISONED", "WAL_PANIC",     "WAL_COMPACTED",
    };
    if (s >= 0 && s <= 11) {
        return names[s];
    }
    return "(unknown status value)";
}

/* wal_last_error() is valid only until the next walstore call on this
 * thread, so it is copied before anything else is called. */
static void copy_last_error(char *buf, size_t cap)
{
    const char *e = wal_last_error();
    snprintf(buf, cap, "%s", e != NULL ? e : "(NULL)");
}

static void print_left_dirs(void)
{
    for (int i = 0; i < g_ndirs; i++) {
        if (g_dirs[i][0] != '\0') {
            fprintf(stderr, "  temp dir left for inspection: %s\n", g_dirs[i]);
        }
    }
}

static void fail_check(const char *file, int line, const char *expr)
{
    char err[2048];
    copy_last_error(err, sizeof err);
    fprintf(stderr, "%s:%d: CHECK failed: %s\n  wal_last_error(): \"%s\"\n", file, line, expr, err);
    print_left_dirs();
    abort();
}

static void fail_status(const char *file, int line, const char *expr, wal_status got, wal_status want)
{
    char err[2048];
    copy_last_error(err, sizeof err);
    fprintf(stderr,
            "%s:%d: CHECK_STATUS failed: %s\n"
            "  got      %s (%d, \"%s\")\n"
            "  expected %s (%d, \"%s\")\n"
            "  wal_last_error(): \"%s\"\n",
            file, line, expr, status_name(got), (int)got, wal_status_str(got), status_name(want),
            (int)want, wal_status_str(want), err);
    print_left_dirs();
    abort();
}

#define CHECK_AT(file, line, cond)                                                                 \
    do {                                                                                           \
        atomic_fetch_add(&g_checks, 1);                                                            \
        if (!(cond)) {                                                                             \
            fail_check((file), (line), #cond);                                                     \
        }                                                                                          \
    } while (0)

#define CHECK_STATUS_AT(file, line, call, expected)                                                \
    do {                                                                                           \
        atomic_fetch_add(&g_checks, 1);                                                            \
        wal_status got_ = (call);                                                                  \
        wal_status want_ = (expected);                                                             \
        if (got_ != want_) {                                                                       \
            fail_status((file), (line), #call, got_, want_);                                       \
        }                                                                                          \
        if (want_ >= 0 && want_ < 32) {                                                            \
            atomic_fetch_or(&g_reached, 1u << want_);                                              \
        }                                                                                          \
    } while (0)

#define CHECK(cond) CHECK_AT(__FILE__, __LINE__, cond)
#define CHECK_STATUS(call, expected) CHECK_STATUS_AT(__FILE__, __LINE__, call, expected)

/* The last error on this thread is non-empty and starts with "fn: ". */
static void check_error_names(const char *file, int line, const char *fn)
{
    const char *e = wal_last_error();
    size_t n = strlen(fn);
    CHECK_AT(file, line, e != NULL);
    CHECK_AT(file, line, strncmp(e, fn, n) == 0 && e[n] == ':' && e[n + 1] == ' ' && e[n + 2] != '\0');
}
#define CHECK_ERR(fn) check_error_names(__FILE__, __LINE__, (fn))

/* The last error on this thread contains `needle`. */
#define CHECK_ERR_HAS(needle) CHECK(strstr(wal_last_error(), (needle)) != NULL)

static void section(const char *name)
{
    printf("== %s\n", name);
    fflush(stdout);
}

/* Sentinels: an output must still hold these after a failed call. */
static char g_sentinel_obj;
#define WAL_SENTINEL ((wal_t *)(void *)&g_sentinel_obj)
#define BUF_SENTINEL ((uint8_t *)(void *)&g_sentinel_obj)
#define STR_SENTINEL ((const char *)&g_sentinel_obj)
#define LEN_SENTINEL ((size_t)0x5E5E5E5Eu)
#define U64_SENTINEL ((uint64_t)0xDEADBEEFCAFEF00Dull)

/* ------------------------------------------------------------------------ */
/* Files and directories                                                    */
/* ------------------------------------------------------------------------ */

static const char *new_dir(void)
{
    CHECK(g_ndirs < MAX_DIRS);
    char *d = g_dirs[g_ndirs++];
    strcpy(d, "/tmp/walstore-ctest-XXXXXX");
    CHECK(mkdtemp(d) != NULL);
    return d;
}

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path) == 0 ? 0 : -1;
}

static int remove_all_dirs(void)
{
    int removed = 0;
    for (int i = 0; i < g_ndirs; i++) {
        if (g_dirs[i][0] == '\0') {
            continue;
        }
        CHECK(nftw(g_dirs[i], rm_entry, 16, FTW_DEPTH | FTW_PHYS) == 0);
        struct stat st;
        CHECK(stat(g_dirs[i], &st) != 0 && errno == ENOENT);
        g_dirs[i][0] = '\0';
        removed++;
    }
    return removed;
}

static void log_path(const char *dir, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/wal-0000000000000001.log", dir);
    CHECK(n > 0 && (size_t)n < cap);
}

static bool exists(const char *path)
{
    struct stat st;
    return stat(path, &st) == 0;
}

static long long file_size(const char *path)
{
    struct stat st;
    CHECK(stat(path, &st) == 0);
    return (long long)st.st_size;
}

/* The whole file, malloc'd (at least 1 byte so it is never NULL). */
/* How far an open store's log file runs ahead of its records. */
#define PREALLOCATION_STEP ((size_t)1 << 20)

static uint8_t *slurp(const char *path, size_t *len)
{
    int fd = open(path, O_RDONLY);
    CHECK(fd >= 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0);
    size_t n = (size_t)st.st_size;
    uint8_t *buf = malloc(n + 1);
    CHECK(buf != NULL);
    CHECK(pread(fd, buf, n, 0) == (ssize_t)n);
    CHECK(close(fd) == 0);
    *len = n;
    return buf;
}

static bool file_equals(const char *path, const uint8_t *want, size_t want_len)
{
    size_t len = 0;
    uint8_t *got = slurp(path, &len);
    bool same = len == want_len && memcmp(got, want, len) == 0;
    free(got);
    return same;
}

static void write_whole(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(close(fd) == 0);
}

static void append_raw(const char *path, const void *data, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND);
    CHECK(fd >= 0);
    CHECK(write(fd, data, len) == (ssize_t)len);
    CHECK(close(fd) == 0);
}

/* XORs one byte of a file in place with pread/pwrite. */
static void flip_byte(const char *path, off_t off)
{
    int fd = open(path, O_RDWR);
    CHECK(fd >= 0);
    uint8_t b = 0;
    CHECK(pread(fd, &b, 1, off) == 1);
    b ^= 0xFF;
    CHECK(pwrite(fd, &b, 1, off) == 1);
    CHECK(close(fd) == 0);
}

static uint32_t le32(const uint8_t *p)
{
    return (uint32_t)p[0] | (uint32_t)p[1] << 8 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t le64(const uint8_t *p)
{
    return (uint64_t)le32(p) | (uint64_t)le32(p + 4) << 32;
}

static void put_le32(uint8_t *p, uint32_t v)
{
    for (int i = 0; i < 4; i++) {
        p[i] = (uint8_t)(v >> (8 * i));
    }
}

/* CRC-32 (IEEE 802.3, the zlib one): what the file header's CRC uses. */
static uint32_t crc32_ieee(const uint8_t *p, size_t n)
{
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < n; i++) {
        c ^= p[i];
        for (int k = 0; k < 8; k++) {
            c = (c >> 1) ^ (0xEDB88320u & (0u - (c & 1u)));
        }
    }
    return ~c;
}

/* ------------------------------------------------------------------------ */
/* Payloads and store helpers                                               */
/* ------------------------------------------------------------------------ */

/* Deterministic bytes for (id, version). */
static void fill(uint8_t *buf, size_t len, uint64_t id, unsigned version)
{
    uint64_t x = id * 0x9E3779B97F4A7C15ull + (uint64_t)version * 0xBF58476D1CE4E5B9ull + 1;
    for (size_t i = 0; i < len; i++) {
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        buf[i] = (uint8_t)((x * 0x2545F4914F6CDD1Dull) >> 56);
    }
}

/* Both read paths return exactly `len` bytes equal to `data`. */
static void expect_payload(const char *file, int line, wal_t *w, uint64_t id, const uint8_t *data, size_t len)
{
    size_t cap = len + 8;
    uint8_t *buf = malloc(cap);
    CHECK_AT(file, line, buf != NULL);
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_retrieve(w, id, buf, cap, &out_len), WAL_OK);
    CHECK_AT(file, line, out_len == len);
    CHECK_AT(file, line, len == 0 || memcmp(buf, data, len) == 0);
    free(buf);

    uint8_t *p = NULL;
    size_t plen = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_retrieve_alloc(w, id, &p, &plen), WAL_OK);
    CHECK_AT(file, line, p != NULL);
    CHECK_AT(file, line, plen == len);
    CHECK_AT(file, line, len == 0 || memcmp(p, data, len) == 0);
    wal_buf_free(p);
}
#define EXPECT_PAYLOAD(w, id, data, len) expect_payload(__FILE__, __LINE__, (w), (id), (data), (len))

static void expect_version(const char *file, int line, wal_t *w, uint64_t id, unsigned version, size_t len)
{
    uint8_t *want = malloc(len + 1);
    CHECK_AT(file, line, want != NULL);
    fill(want, len, id, version);
    expect_payload(file, line, w, id, want, len);
    free(want);
}
#define EXPECT_VERSION(w, id, version, len) expect_version(__FILE__, __LINE__, (w), (id), (version), (len))

/* Both read paths say WAL_NOT_FOUND and leave their outputs alone. */
static void expect_not_found(const char *file, int line, wal_t *w, uint64_t id)
{
    uint8_t buf[8];
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_retrieve(w, id, buf, sizeof buf, &out_len), WAL_NOT_FOUND);
    CHECK_AT(file, line, out_len == LEN_SENTINEL);
    CHECK_STATUS_AT(file, line, wal_retrieve(w, id, NULL, 0, &out_len), WAL_NOT_FOUND);
    CHECK_AT(file, line, out_len == LEN_SENTINEL);
    uint8_t *p = BUF_SENTINEL;
    size_t plen = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_retrieve_alloc(w, id, &p, &plen), WAL_NOT_FOUND);
    CHECK_AT(file, line, p == BUF_SENTINEL && plen == LEN_SENTINEL);
}
#define EXPECT_NOT_FOUND(w, id) expect_not_found(__FILE__, __LINE__, (w), (id))

static void store_version(const char *file, int line, wal_t *w, uint64_t id, unsigned version, size_t len)
{
    uint8_t *data = malloc(len + 1);
    CHECK_AT(file, line, data != NULL);
    fill(data, len, id, version);
    CHECK_STATUS_AT(file, line, wal_store(w, id, data, len), WAL_OK);
    free(data);
}
#define STORE_VERSION(w, id, version, len) store_version(__FILE__, __LINE__, (w), (id), (version), (len))

static uint64_t log_position(wal_t *w)
{
    uint64_t pos = U64_SENTINEL;
    CHECK_STATUS(wal_log_position(w, &pos), WAL_OK);
    CHECK(pos != U64_SENTINEL);
    return pos;
}

static uint64_t records_replayed(wal_t *w)
{
    uint64_t n = U64_SENTINEL;
    CHECK_STATUS(wal_open_records_replayed(w, &n), WAL_OK);
    return n;
}

static uint64_t damaged_records(wal_t *w)
{
    uint64_t n = U64_SENTINEL;
    CHECK_STATUS(wal_open_damaged_records(w, &n), WAL_OK);
    return n;
}

/* The open found no torn tail: both getters say WAL_NOT_FOUND and leave
 * their outputs alone. */
static void expect_no_torn_tail(const char *file, int line, wal_t *w)
{
    uint64_t off = U64_SENTINEL, bytes = U64_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_open_torn_tail(w, &off, &bytes), WAL_NOT_FOUND);
    CHECK_AT(file, line, off == U64_SENTINEL && bytes == U64_SENTINEL);
    const char *path = STR_SENTINEL;
    CHECK_STATUS_AT(file, line, wal_open_torn_tail_path(w, &path), WAL_NOT_FOUND);
    CHECK_AT(file, line, path == STR_SENTINEL);
}
#define EXPECT_NO_TORN_TAIL(w) expect_no_torn_tail(__FILE__, __LINE__, (w))

/* Opens `dir` with the given durability / recovery / read-only options. */
static wal_status open_with(const char *dir, int32_t durability, int32_t recovery, bool read_only, wal_t **out)
{
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_durability(o, durability), WAL_OK);
    CHECK_STATUS(wal_options_set_recovery_mode(o, recovery), WAL_OK);
    CHECK_STATUS(wal_options_set_read_only(o, read_only), WAL_OK);
    wal_status s = wal_open(dir, o, out);
    wal_options_free(o); /* wal_open copied what it needs */
    return s;
}

/* ------------------------------------------------------------------------ */
/* 1. wal_last_error, wal_version, wal_status_str                           */
/* ------------------------------------------------------------------------ */

static void test_version_and_strings(void)
{
    section("version, wal_status_str, wal_last_error before any failure");

    int maj = -1, min = -1, pat = -1;
    const char *v = wal_version(&maj, &min, &pat);
    CHECK(v != NULL);
    CHECK(maj == WAL_VERSION_MAJOR && min == WAL_VERSION_MINOR && pat == WAL_VERSION_PATCH);
    CHECK(strcmp(v, WAL_VERSION_STRING) == 0);
    char expect[64];
    snprintf(expect, sizeof expect, "%d.%d.%d", maj, min, pat);
    CHECK(strcmp(v, expect) == 0);
    CHECK(wal_version(NULL, NULL, NULL) == v || strcmp(wal_version(NULL, NULL, NULL), v) == 0);
    int only_minor = -1;
    CHECK(strcmp(wal_version(NULL, &only_minor, NULL), WAL_VERSION_STRING) == 0);
    CHECK(only_minor == WAL_VERSION_MINOR);
    printf("   library %s, header %s\n", v, WAL_VERSION_STRING);

    for (int32_t s = 0; s <= 11; s++) {
        const char *str = wal_status_str(s);
        CHECK(str != NULL && str[0] != '\0');
        CHECK(strcmp(str, "unknown status") != 0);
    }
    const int32_t unknown[] = {12, 999, -1, INT32_MIN, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        const char *str = wal_status_str(unknown[i]);
        CHECK(str != NULL && strcmp(str, "unknown status") == 0);
    }

    /* None of the calls above can fail, so there is still no message. */
    const char *e = wal_last_error();
    CHECK(e != NULL && e[0] == '\0');
}

/* ------------------------------------------------------------------------ */
/* 2. Options                                                               */
/* ------------------------------------------------------------------------ */

static void test_options(void)
{
    section("options: setters, NULL and out-of-range values");

    wal_options_free(NULL); /* no-op */

    CHECK_STATUS(wal_options_set_durability(NULL, WAL_DURABILITY_FSYNC), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_durability");
    CHECK_STATUS(wal_options_set_recovery_mode(NULL, WAL_RECOVERY_STRICT), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_recovery_mode");
    CHECK_STATUS(wal_options_set_max_payload(NULL, 100), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_max_payload");
    CHECK_STATUS(wal_options_set_read_only(NULL, true), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_read_only");
    CHECK_STATUS(wal_options_set_snapshot_threshold(NULL, 1000), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_snapshot_threshold");
    CHECK_STATUS(wal_options_set_write_buffer(NULL, 4096), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_write_buffer");

    wal_options *o = wal_options_new();
    CHECK(o != NULL);

    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FSYNC), WAL_OK);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FLUSH), WAL_OK);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_NONE), WAL_OK);
    CHECK_STATUS(wal_options_set_durability(o, -1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_durability");
    CHECK_STATUS(wal_options_set_durability(o, 3), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_options_set_durability(o, INT32_MAX), WAL_INVALID_ARGUMENT);

    CHECK_STATUS(wal_options_set_recovery_mode(o, WAL_RECOVERY_STRICT), WAL_OK);
    CHECK_STATUS(wal_options_set_recovery_mode(o, WAL_RECOVERY_SALVAGE), WAL_OK);
    CHECK_STATUS(wal_options_set_recovery_mode(o, WAL_RECOVERY_ABSOLUTE), WAL_OK);
    CHECK_STATUS(wal_options_set_recovery_mode(o, -1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_recovery_mode");
    CHECK_STATUS(wal_options_set_recovery_mode(o, 3), WAL_INVALID_ARGUMENT);

    CHECK_STATUS(wal_options_set_max_payload(o, 1), WAL_OK);
    CHECK_STATUS(wal_options_set_max_payload(o, (size_t)UINT32_MAX), WAL_OK); /* 4 GiB - 1 */
    CHECK_STATUS(wal_options_set_max_payload(o, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_max_payload");
#if SIZE_MAX > UINT32_MAX
    CHECK_STATUS(wal_options_set_max_payload(o, (size_t)UINT32_MAX + 1), WAL_INVALID_ARGUMENT);
#endif
    CHECK_STATUS(wal_options_set_max_payload(o, SIZE_MAX), WAL_INVALID_ARGUMENT);

    CHECK_STATUS(wal_options_set_write_buffer(o, 1), WAL_OK);
    CHECK_STATUS(wal_options_set_write_buffer(o, (size_t)1 << 30), WAL_OK);
    CHECK_STATUS(wal_options_set_write_buffer(o, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_write_buffer");
    CHECK_STATUS(wal_options_set_write_buffer(o, ((size_t)1 << 30) + 1), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_options_set_write_buffer(o, SIZE_MAX), WAL_INVALID_ARGUMENT);

    CHECK_STATUS(wal_options_set_read_only(o, true), WAL_OK);
    CHECK_STATUS(wal_options_set_read_only(o, false), WAL_OK);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 0), WAL_OK);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, UINT64_MAX), WAL_OK);

    /* A refused value leaves the option as it was: the limit stays 100. */
    const char *dir = new_dir();
    CHECK_STATUS(wal_options_set_max_payload(o, 100), WAL_OK);
    CHECK_STATUS(wal_options_set_max_payload(o, 0), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_options_set_max_payload(o, SIZE_MAX), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FLUSH), WAL_OK);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    wal_options_free(o); /* the handle does not need the options any more */
    uint8_t big[101];
    fill(big, sizeof big, 1, 1);
    CHECK_STATUS(wal_store(w, 1, big, 101), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store");
    CHECK_STATUS(wal_store(w, 1, big, 100), WAL_OK);
    EXPECT_PAYLOAD(w, 1, big, 100);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 3. wal_open arguments                                                    */
/* ------------------------------------------------------------------------ */

static void test_open_arguments(void)
{
    section("wal_open: NULL/empty arguments, missing and non-directory paths");

    const char *dir = new_dir();
    wal_t *w = WAL_SENTINEL;

    CHECK_STATUS(wal_open(NULL, NULL, &w), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    CHECK_STATUS(wal_open("", NULL, &w), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    CHECK_STATUS(wal_open(dir, NULL, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open");
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_open(NULL, o, &w), WAL_INVALID_ARGUMENT);
    CHECK(w == WAL_SENTINEL);

    /* Read-only open of a missing directory: WAL_IO, and nothing created. */
    char missing[128];
    snprintf(missing, sizeof missing, "%s/missing", dir);
    CHECK_STATUS(wal_options_set_read_only(o, true), WAL_OK);
    CHECK_STATUS(wal_open(missing, o, &w), WAL_IO);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    CHECK(!exists(missing));

    /* A regular file where the directory should be: WAL_IO. */
    char notdir[128];
    snprintf(notdir, sizeof notdir, "%s/plainfile", dir);
    write_whole(notdir, "x", 1);
    CHECK_STATUS(wal_options_set_read_only(o, false), WAL_OK);
    CHECK_STATUS(wal_open(notdir, o, &w), WAL_IO);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    CHECK_STATUS(wal_options_set_read_only(o, true), WAL_OK);
    CHECK_STATUS(wal_open(notdir, o, &w), WAL_IO);
    CHECK(w == WAL_SENTINEL);
    wal_options_free(o);

    /* A writable open creates what is missing. */
    char fresh[128];
    snprintf(fresh, sizeof fresh, "%s/newstore", dir);
    w = NULL;
    CHECK_STATUS(wal_open(fresh, NULL, &w), WAL_OK);
    CHECK(w != NULL && w != WAL_SENTINEL);
    char lp[192], lock[192];
    log_path(fresh, lp, sizeof lp);
    snprintf(lock, sizeof lock, "%s/LOCK", fresh);
    CHECK(exists(lp) && exists(lock));
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 4. Basic calls, NULL arguments on every function, on-disk layout         */
/* ------------------------------------------------------------------------ */

static void test_basics(void)
{
    section("store/retrieve/delete, buffer sizes, NULL arguments, zero-length payloads");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);

    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(w != NULL);
    CHECK(log_position(w) == 64); /* just the file header */
    CHECK(records_replayed(w) == 0);
    CHECK(damaged_records(w) == 0);
    EXPECT_NO_TORN_TAIL(w);

    static const uint8_t hello[] = "hello, walstore";
    const size_t n = sizeof hello - 1;
    CHECK_STATUS(wal_store(w, 1, hello, n), WAL_OK);
    CHECK(log_position(w) == 64 + 32 + n);
    EXPECT_PAYLOAD(w, 1, hello, n);

    /* The layout the damage tests rely on. While the store is open, the
       file runs a preallocation step (1 MiB) ahead of its records, in
       zeros: free space (docs/FORMAT.md §8.2). */
    {
        size_t flen = 0;
        uint8_t *f = slurp(lp, &flen);
        CHECK(flen == PREALLOCATION_STEP);
        for (size_t i = 64 + 32 + n; i < flen; i++) {
            if (f[i] != 0) {
                CHECK(f[i] == 0);
                break;
            }
        }
        CHECK(memcmp(f, "WALSTORE", 8) == 0);
        CHECK(le32(f + 8) == 1);
        CHECK(le32(f + 60) == crc32_ieee(f, 60));
        CHECK(f[64] == 1);              /* Put */
        CHECK(le32(f + 64 + 4) == n);   /* payload length */
        CHECK(le64(f + 64 + 16) == 1);  /* id */
        CHECK(memcmp(f + 96, hello, n) == 0);
        free(f);
    }

    /* Exact capacity, bigger capacity, too small, size query. */
    uint8_t buf[64];
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, buf, n, &out_len), WAL_OK);
    CHECK(out_len == n && memcmp(buf, hello, n) == 0);
    uint8_t small[4];
    memset(small, 0xAB, sizeof small);
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, small, sizeof small, &out_len), WAL_BUFFER_TOO_SMALL);
    CHECK_ERR("wal_retrieve");
    CHECK(out_len == n);
    CHECK(small[0] == 0xAB && small[1] == 0xAB && small[2] == 0xAB && small[3] == 0xAB);
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, buf, n - 1, &out_len), WAL_BUFFER_TOO_SMALL);
    CHECK(out_len == n);
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, NULL, 0, &out_len), WAL_BUFFER_TOO_SMALL); /* size query */
    CHECK(out_len == n);

    /* Unknown ids. */
    EXPECT_NOT_FOUND(w, 2);
    CHECK_ERR("wal_retrieve_alloc");
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 2, buf, sizeof buf, &out_len), WAL_NOT_FOUND);
    CHECK_ERR("wal_retrieve");
    uint64_t pos = log_position(w);
    CHECK_STATUS(wal_delete(w, 2), WAL_NOT_FOUND);
    CHECK_ERR("wal_delete");
    CHECK(log_position(w) == pos); /* wrote nothing */

    /* Every NULL where NULL is not allowed: WAL_INVALID_ARGUMENT, outputs
     * untouched, nothing written. */
    CHECK_STATUS(wal_store(NULL, 1, hello, n), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store");
    CHECK_STATUS(wal_store(w, 2, NULL, 5), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store");
    wal_entry one = {3, hello, n};
    CHECK_STATUS(wal_store_batch(NULL, &one, 1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_batch");
    CHECK_STATUS(wal_store_batch(w, NULL, 2), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_batch");
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(NULL, 1, buf, sizeof buf, &out_len), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_retrieve");
    CHECK(out_len == LEN_SENTINEL);
    CHECK_STATUS(wal_retrieve(w, 1, buf, sizeof buf, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_retrieve");
    CHECK_STATUS(wal_retrieve(w, 1, NULL, 5, &out_len), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_retrieve");
    CHECK(out_len == LEN_SENTINEL);
    uint8_t *p = BUF_SENTINEL;
    size_t plen = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve_alloc(NULL, 1, &p, &plen), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_retrieve_alloc");
    CHECK(p == BUF_SENTINEL && plen == LEN_SENTINEL);
    CHECK_STATUS(wal_retrieve_alloc(w, 1, NULL, &plen), WAL_INVALID_ARGUMENT);
    CHECK(plen == LEN_SENTINEL);
    CHECK_STATUS(wal_retrieve_alloc(w, 1, &p, NULL), WAL_INVALID_ARGUMENT);
    CHECK(p == BUF_SENTINEL);
    CHECK_STATUS(wal_delete(NULL, 1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete");
    CHECK_STATUS(wal_sync(NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_sync");
    CHECK(wal_should_snapshot(NULL) == false);
    uint64_t u = U64_SENTINEL, u2 = U64_SENTINEL;
    CHECK_STATUS(wal_log_position(NULL, &u), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_log_position");
    CHECK_STATUS(wal_log_position(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_records_replayed(NULL, &u), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open_records_replayed");
    CHECK_STATUS(wal_open_records_replayed(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_damaged_records(NULL, &u), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open_damaged_records");
    CHECK_STATUS(wal_open_damaged_records(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_torn_tail(NULL, &u, &u2), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open_torn_tail");
    CHECK_STATUS(wal_open_torn_tail(w, NULL, &u2), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_torn_tail(w, &u, NULL), WAL_INVALID_ARGUMENT);
    CHECK(u == U64_SENTINEL && u2 == U64_SENTINEL);
    const char *tp = STR_SENTINEL;
    CHECK_STATUS(wal_open_torn_tail_path(NULL, &tp), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_open_torn_tail_path");
    CHECK(tp == STR_SENTINEL);
    CHECK_STATUS(wal_open_torn_tail_path(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK(log_position(w) == pos);
    EXPECT_NOT_FOUND(w, 2);
    EXPECT_NOT_FOUND(w, 3);

    /* Zero-length payloads, with NULL and with non-NULL data. */
    CHECK_STATUS(wal_store(w, 10, NULL, 0), WAL_OK);
    CHECK_STATUS(wal_store(w, 11, hello, 0), WAL_OK);
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 10, NULL, 0, &out_len), WAL_OK);
    CHECK(out_len == 0);
    out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 10, buf, sizeof buf, &out_len), WAL_OK);
    CHECK(out_len == 0);
    p = NULL;
    plen = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve_alloc(w, 10, &p, &plen), WAL_OK);
    CHECK(p != NULL && plen == 0);
    wal_buf_free(p);
    EXPECT_PAYLOAD(w, 11, NULL, 0);

    /* Overwrite, then delete. */
    static const uint8_t second[] = "second version, longer than the first one";
    CHECK_STATUS(wal_store(w, 1, second, sizeof second - 1), WAL_OK);
    EXPECT_PAYLOAD(w, 1, second, sizeof second - 1);
    CHECK_STATUS(wal_store(w, 1, hello, 5), WAL_OK); /* and shorter again */
    EXPECT_PAYLOAD(w, 1, hello, 5);
    CHECK_STATUS(wal_delete(w, 1), WAL_OK);
    EXPECT_NOT_FOUND(w, 1);
    CHECK_STATUS(wal_delete(w, 1), WAL_NOT_FOUND);
    CHECK_STATUS(wal_delete(w, 10), WAL_OK);
    EXPECT_NOT_FOUND(w, 10);

    /* Extreme ids. */
    STORE_VERSION(w, 0, 1, 33);
    STORE_VERSION(w, UINT64_MAX, 1, 34);
    EXPECT_VERSION(w, 0, 1, 33);
    EXPECT_VERSION(w, UINT64_MAX, 1, 34);

    /* A store after delete brings the id back. */
    STORE_VERSION(w, 1, 7, 70);
    EXPECT_VERSION(w, 1, 7, 70);

    CHECK_STATUS(wal_sync(w), WAL_OK);
    wal_buf_free(NULL);
    CHECK_STATUS(wal_close(NULL), WAL_OK);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Everything survives a reopen: 1 store + 2 zero-length + 2 overwrites +
     * 2 deletes + 2 extreme ids + 1 re-store = 10 records. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 10);
    CHECK(damaged_records(w) == 0);
    EXPECT_NO_TORN_TAIL(w);
    CHECK(log_position(w) == (uint64_t)file_size(lp));
    EXPECT_VERSION(w, 1, 7, 70);
    EXPECT_NOT_FOUND(w, 10);
    EXPECT_PAYLOAD(w, 11, NULL, 0);
    EXPECT_VERSION(w, 0, 1, 33);
    EXPECT_VERSION(w, UINT64_MAX, 1, 34);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 5. Batches and the payload limit                                         */
/* ------------------------------------------------------------------------ */

static void test_batches_and_limit(void)
{
    section("batches: later entry wins, count 0, an invalid entry rejects the whole batch, max payload");

    const char *dir = new_dir();
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_max_payload(o, 100), WAL_OK);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    wal_options_free(o);

    uint8_t a[5], b[7], c[3], big[101], max[100];
    fill(a, sizeof a, 10, 1);
    fill(b, sizeof b, 11, 1);
    fill(c, sizeof c, 10, 2);
    fill(big, sizeof big, 31, 1);
    fill(max, sizeof max, 60, 1);

    wal_entry e1[] = {{10, a, sizeof a}, {11, b, sizeof b}, {10, c, sizeof c}};
    CHECK_STATUS(wal_store_batch(w, e1, 3), WAL_OK);
    EXPECT_PAYLOAD(w, 10, c, sizeof c); /* the later entry won */
    EXPECT_PAYLOAD(w, 11, b, sizeof b);

    uint64_t pos = log_position(w);
    CHECK_STATUS(wal_store_batch(w, e1, 0), WAL_OK);
    CHECK_STATUS(wal_store_batch(w, NULL, 0), WAL_OK);
    CHECK(log_position(w) == pos);

    /* NULL data with a length, in the middle: nothing of the batch lands. */
    wal_entry e2[] = {{20, a, sizeof a}, {21, NULL, 4}, {22, b, sizeof b}, {11, c, sizeof c}};
    CHECK_STATUS(wal_store_batch(w, e2, 4), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_batch");
    EXPECT_NOT_FOUND(w, 20);
    EXPECT_NOT_FOUND(w, 21);
    EXPECT_NOT_FOUND(w, 22);
    EXPECT_PAYLOAD(w, 11, b, sizeof b);
    CHECK(log_position(w) == pos);

    /* One payload over the limit, last: nothing of the batch lands. */
    wal_entry e3[] = {{30, a, sizeof a}, {11, c, sizeof c}, {31, big, sizeof big}};
    CHECK_STATUS(wal_store_batch(w, e3, 3), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_batch");
    EXPECT_NOT_FOUND(w, 30);
    EXPECT_NOT_FOUND(w, 31);
    EXPECT_PAYLOAD(w, 11, b, sizeof b);
    CHECK(log_position(w) == pos);

    /* Single stores against the limit. */
    CHECK_STATUS(wal_store(w, 31, big, sizeof big), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store");
    EXPECT_NOT_FOUND(w, 31);
    CHECK(log_position(w) == pos);
    CHECK_STATUS(wal_store(w, 60, max, sizeof max), WAL_OK);
    EXPECT_PAYLOAD(w, 60, max, sizeof max);

    /* A zero-length entry with NULL data is valid. */
    wal_entry e4[] = {{50, NULL, 0}, {51, a, sizeof a}};
    CHECK_STATUS(wal_store_batch(w, e4, 2), WAL_OK);
    EXPECT_PAYLOAD(w, 50, NULL, 0);
    EXPECT_PAYLOAD(w, 51, a, sizeof a);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Replayed: 3 (batch e1) + 1 (id 60) + 2 (batch e4) = 6. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 6);
    EXPECT_PAYLOAD(w, 10, c, sizeof c);
    EXPECT_PAYLOAD(w, 11, b, sizeof b);
    EXPECT_PAYLOAD(w, 60, max, sizeof max);
    EXPECT_PAYLOAD(w, 50, NULL, 0);
    EXPECT_PAYLOAD(w, 51, a, sizeof a);
    EXPECT_NOT_FOUND(w, 20);
    EXPECT_NOT_FOUND(w, 30);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 5b. Mixed write batches and range deletes                                */
/* ------------------------------------------------------------------------ */

static wal_write_op op_store(uint64_t id, const uint8_t *data, size_t len)
{
    wal_write_op o = {WAL_OP_STORE, id, 0, data, len};
    return o;
}

static wal_write_op op_delete(uint64_t id)
{
    wal_write_op o = {WAL_OP_DELETE, id, 0, NULL, 0};
    return o;
}

static wal_write_op op_range(uint64_t lo, uint64_t hi)
{
    wal_write_op o = {WAL_OP_DELETE_RANGE, lo, hi, NULL, 0};
    return o;
}

/* One record header as the log holds it (see the layout at the top). */
struct rec {
    uint8_t type;
    uint32_t len;
    uint64_t seq, id;
    uint64_t hi; /* a range delete's payload, the high end; else 0 */
};

/* The records of the log from byte `from` to its end, into `out` (up to
 * `cap`); every one must end inside the file. The free space of an open
 * store (zeros after the last record: no record type is 0) ends them. */
static size_t read_records(const char *lp, uint64_t from, struct rec *out, size_t cap)
{
    size_t flen = 0;
    uint8_t *f = slurp(lp, &flen);
    size_t n = 0;
    uint64_t pos = from;
    while (pos < flen) {
        if (f[pos] == 0) {
            size_t z = (size_t)pos;
            while (z < flen && f[z] == 0)
                z++;
            CHECK(z == flen);
            break;
        }
        CHECK(n < cap && pos + 32 <= flen);
        const uint8_t *h = f + pos;
        struct rec r = {h[0], le32(h + 4), le64(h + 8), le64(h + 16), 0};
        CHECK(pos + 32 + r.len <= flen);
        if (r.type == 5) {
            CHECK(r.len == 8);
            r.hi = le64(h + 32);
        }
        out[n++] = r;
        pos += 32 + r.len;
    }
    CHECK(pos <= flen);
    free(f);
    return n;
}

static uint64_t stat_live_ids(wal_t *w)
{
    uint64_t n = U64_SENTINEL;
    CHECK_STATUS(wal_stat_live_ids(w, &n), WAL_OK);
    return n;
}

static uint64_t stat_live_bytes(wal_t *w)
{
    uint64_t n = U64_SENTINEL;
    CHECK_STATUS(wal_stat_live_bytes(w, &n), WAL_OK);
    return n;
}

/* What ids 1..6, 99, 0 and UINT64_MAX hold after the first batch below. */
static void expect_after_first_batch(const char *file, int line, wal_t *w, const uint8_t *b, size_t blen,
                                     const uint8_t *c, size_t clen)
{
    expect_version(file, line, w, 1, 1, 10);
    expect_payload(file, line, w, 2, b, blen);
    expect_version(file, line, w, 3, 1, 10);
    expect_not_found(file, line, w, 4);
    expect_payload(file, line, w, 5, c, clen);
    expect_not_found(file, line, w, 6);
    expect_not_found(file, line, w, 99);
    expect_not_found(file, line, w, 0);
    expect_not_found(file, line, w, UINT64_MAX);
}
#define EXPECT_AFTER_FIRST_BATCH(w) expect_after_first_batch(__FILE__, __LINE__, (w), b, sizeof b, c, sizeof c)

static void test_write_batches(void)
{
    section("mixed write batches and range deletes: order, framing, range ends, refusals, sequence numbers");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_max_payload(o, 100), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_snapshot(o, false), WAL_OK);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);

    for (uint64_t id = 1; id <= 5; id++) {
        STORE_VERSION(w, id, 1, 10); /* seq 1..5 */
    }
    const uint64_t P0 = 64 + 5 * 42;
    CHECK(log_position(w) == P0);

    uint8_t a[7], b[9], c[3], max[100], big[101];
    fill(a, sizeof a, 6, 1);
    fill(b, sizeof b, 2, 2);
    fill(c, sizeof c, 5, 2);
    fill(max, sizeof max, 60, 1);
    fill(big, sizeof big, 61, 1);

    /* Operations apply in order, a later one for the same id wins, and a
     * delete of an id that is not there is no error inside a batch. */
    const wal_write_op ops1[] = {
        op_store(6, a, sizeof a), /* a new id... */
        op_delete(6),             /* ...deleted in the same batch */
        op_delete(2),             /* a live id... */
        op_store(2, b, sizeof b), /* ...stored again after its delete */
        op_delete(99),            /* never existed */
        op_range(4, 5),           /* 4 and 5, both ends */
        op_store(5, c, sizeof c), /* 5 back after the range */
    };
    CHECK_STATUS(wal_write_batch(w, ops1, 7), WAL_OK);
    EXPECT_AFTER_FIRST_BATCH(w);
    CHECK(stat_live_ids(w) == 4);
    CHECK(stat_live_bytes(w) == 10 + 9 + 10 + 3);

    /* Framed: begin (count 7), the 7 operation records, commit (count 7);
     * one write, so the log grew by exactly these records. */
    const uint64_t P1 = P0 + 9 * 32 + sizeof a + sizeof b + 8 + sizeof c;
    CHECK(log_position(w) == P1);
    {
        struct rec r[16];
        CHECK(read_records(lp, P0, r, 16) == 9);
        const uint8_t types[] = {3, 1, 2, 2, 1, 2, 5, 1, 4};
        const uint64_t ids[] = {7, 6, 6, 2, 2, 99, 4, 5, 7};
        for (size_t i = 0; i < 9; i++) {
            CHECK(r[i].type == types[i]);
            CHECK(r[i].id == ids[i]);
            CHECK(r[i].seq == 6 + i);
        }
        CHECK(r[6].len == 8 && r[6].hi == 5); /* the range's high end, u64 LE */
        CHECK(r[0].len == 0 && r[2].len == 0 && r[8].len == 0);
    }

    /* A batch of one is a plain record, unframed; a lone delete of a
     * missing id is still no error, and is written. */
    uint64_t seq = U64_SENTINEL;
    const wal_write_op lone_delete = op_delete(98);
    CHECK_STATUS(wal_write_batch_seq(w, &lone_delete, 1, &seq), WAL_OK);
    CHECK(seq == 15);
    CHECK(log_position(w) == P1 + 32);
    const wal_write_op lone_store = op_store(7, max, sizeof max); /* exactly the limit */
    CHECK_STATUS(wal_write_batch_seq(w, &lone_store, 1, &seq), WAL_OK);
    CHECK(seq == 16);
    CHECK(log_position(w) == P1 + 32 + 132);
    EXPECT_PAYLOAD(w, 7, max, sizeof max);
    {
        struct rec r[4];
        CHECK(read_records(lp, P1, r, 4) == 2);
        CHECK(r[0].type == 2 && r[0].id == 98 && r[0].seq == 15);
        CHECK(r[1].type == 1 && r[1].id == 7 && r[1].seq == 16 && r[1].len == 100);
    }
    /* wal_delete, unlike a batch, refuses a missing id and writes nothing. */
    CHECK_STATUS(wal_delete(w, 98), WAL_NOT_FOUND);
    CHECK_STATUS(wal_delete_seq(w, 98, &seq), WAL_NOT_FOUND);
    CHECK(seq == 16);

    /* Empty batches: WAL_OK, sequence number 0, nothing written. */
    const uint64_t P2 = log_position(w);
    CHECK_STATUS(wal_write_batch(w, ops1, 0), WAL_OK);
    CHECK_STATUS(wal_write_batch(w, NULL, 0), WAL_OK);
    seq = U64_SENTINEL;
    CHECK_STATUS(wal_write_batch_seq(w, NULL, 0, &seq), WAL_OK);
    CHECK(seq == 0);
    CHECK(log_position(w) == P2);

    /* The _seq variants: the batch's commit record, the range's record. */
    const wal_write_op ops2[] = {op_store(8, a, sizeof a), op_range(7, 7)};
    CHECK_STATUS(wal_write_batch_seq(w, ops2, 2, &seq), WAL_OK);
    CHECK(seq == 20); /* begin 17, store 18, range 19, commit 20 */
    EXPECT_PAYLOAD(w, 8, a, sizeof a);
    EXPECT_NOT_FOUND(w, 7);
    CHECK_STATUS(wal_delete_range_seq(w, 8, 8, &seq), WAL_OK);
    CHECK(seq == 21);
    EXPECT_NOT_FOUND(w, 8);
    CHECK_STATUS(wal_delete_range(w, 100, 200), WAL_OK); /* holds no id: no error, one record */
    CHECK_STATUS(wal_store_seq(w, 9, a, sizeof a, &seq), WAL_OK);
    CHECK(seq == 23);
    CHECK(log_position(w) == P2 + (4 * 32 + sizeof a + 8) + 40 + 40 + 32 + sizeof a);
    const uint64_t P3 = log_position(w);

    /* ---- Refusals: each writes nothing and leaves outputs alone. ---- */

    /* lo > hi, alone and inside a batch. */
    CHECK_STATUS(wal_delete_range(w, 9, 8), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(), "wal_delete_range: invalid argument: range delete from id 9 to id 8: "
                                   "the low end is above the high end") == 0);
    CHECK_STATUS(wal_delete_range(w, UINT64_MAX, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range");
    CHECK_ERR_HAS("range delete from id 18446744073709551615 to id 0");
    seq = U64_SENTINEL;
    CHECK_STATUS(wal_delete_range_seq(w, 2, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range_seq");
    CHECK_ERR_HAS("range delete from id 2 to id 1: the low end is above the high end");
    CHECK(seq == U64_SENTINEL);
    const wal_write_op bad_range[] = {op_store(30, a, sizeof a), op_delete(1), op_range(8, 7),
                                      op_store(31, b, sizeof b)};
    CHECK_STATUS(wal_write_batch(w, bad_range, 4), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(), "wal_write_batch: invalid argument: range delete from id 8 to id 7: "
                                   "the low end is above the high end") == 0);
    CHECK_STATUS(wal_write_batch_seq(w, bad_range, 4, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK(seq == U64_SENTINEL);
    CHECK(log_position(w) == P3);
    EXPECT_VERSION(w, 1, 1, 10); /* the batch's delete of 1 did not happen */
    EXPECT_NOT_FOUND(w, 30);
    EXPECT_NOT_FOUND(w, 31);

    /* NULL handle, NULL ops with a count, NULL seq. */
    CHECK_STATUS(wal_write_batch(NULL, ops1, 1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch");
    CHECK_STATUS(wal_write_batch(NULL, NULL, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch");
    CHECK_STATUS(wal_write_batch_seq(NULL, ops1, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK_STATUS(wal_delete_range(NULL, 0, 1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range");
    CHECK_STATUS(wal_delete_range_seq(NULL, 0, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range_seq");
    CHECK(seq == U64_SENTINEL);
    CHECK_STATUS(wal_write_batch(w, NULL, 2), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(), "wal_write_batch: invalid argument: ops is NULL but count is 2") == 0);
    CHECK_STATUS(wal_write_batch_seq(w, NULL, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK_ERR_HAS("ops is NULL but count is 1");
    CHECK(seq == U64_SENTINEL);
    CHECK_STATUS(wal_write_batch_seq(w, ops2, 2, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK_STATUS(wal_delete_range_seq(w, 1, 1, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range_seq");
    CHECK(log_position(w) == P3);
    EXPECT_NOT_FOUND(w, 8); /* ops2 was not written again */
    EXPECT_VERSION(w, 1, 1, 10);

    /* Unknown op values, anywhere in the batch. */
    const int32_t unknown[] = {0, 4, -1, INT32_MAX};
    for (size_t i = 0; i < sizeof unknown / sizeof unknown[0]; i++) {
        wal_write_op bad[] = {op_store(30, a, sizeof a), op_delete(1), op_store(31, b, sizeof b)};
        bad[1].op = unknown[i];
        CHECK_STATUS(wal_write_batch(w, bad, 3), WAL_INVALID_ARGUMENT);
        char want[128];
        snprintf(want, sizeof want,
                 "wal_write_batch: invalid argument: ops[1].op is %d, which is not a wal_write_op_kind",
                 (int)unknown[i]);
        CHECK(strcmp(wal_last_error(), want) == 0);
        seq = U64_SENTINEL;
        CHECK_STATUS(wal_write_batch_seq(w, bad, 3, &seq), WAL_INVALID_ARGUMENT);
        CHECK(seq == U64_SENTINEL);
        CHECK_STATUS(wal_write_batch(w, &bad[1], 1), WAL_INVALID_ARGUMENT); /* alone too */
        CHECK_ERR_HAS("ops[0].op is ");
    }

    /* NULL data with a length, last. */
    const wal_write_op null_data[] = {op_store(30, a, sizeof a), op_range(1, 3), op_store(32, NULL, 4)};
    CHECK_STATUS(wal_write_batch(w, null_data, 3), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(),
                 "wal_write_batch: invalid argument: ops[2].data is NULL but its length is 4") == 0);

    /* A payload over the limit, first. */
    const wal_write_op too_big[] = {op_store(31, big, sizeof big), op_delete(1), op_range(0, UINT64_MAX)};
    CHECK_STATUS(wal_write_batch(w, too_big, 3), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(),
                 "wal_write_batch: invalid argument: payload of id 31 is 101 bytes, over the limit of 100 bytes") == 0);
    CHECK_STATUS(wal_write_batch_seq(w, too_big, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK(seq == U64_SENTINEL);

    CHECK(log_position(w) == P3);
    EXPECT_VERSION(w, 1, 1, 10);
    EXPECT_VERSION(w, 3, 1, 10);
    EXPECT_NOT_FOUND(w, 30);
    EXPECT_NOT_FOUND(w, 31);
    EXPECT_NOT_FOUND(w, 32);

    /* Fields an op does not use are not read: id_hi, data and len of a
     * delete, data and len of a range, id_hi of a store. */
    wal_write_op loose[] = {op_delete(9), op_range(40, 41), op_store(10, c, sizeof c)};
    loose[0].id_hi = 5;
    loose[0].data = NULL;
    loose[0].len = 1000; /* over the limit, were it read */
    loose[1].data = NULL;
    loose[1].len = 3;
    loose[2].id_hi = 1;
    CHECK_STATUS(wal_write_batch(w, loose, 3), WAL_OK);
    EXPECT_NOT_FOUND(w, 9);
    EXPECT_PAYLOAD(w, 10, c, sizeof c);
    EXPECT_VERSION(w, 1, 1, 10);
    EXPECT_VERSION(w, 3, 1, 10);
    /* A zero-length store with NULL data is valid. */
    const wal_write_op empty_store = op_store(11, NULL, 0);
    CHECK_STATUS(wal_write_batch(w, &empty_store, 1), WAL_OK);
    EXPECT_PAYLOAD(w, 11, NULL, 0);
    CHECK(stat_live_ids(w) == 6); /* 1, 2, 3, 5, 10, 11 */
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Reopen: the same state, every operation record replayed once
     * (framing not counted): 5 + 7 + 1 + 1 + 2 + 1 + 1 + 1 + 3 + 1 = 23. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK(records_replayed(w) == 23);
    EXPECT_NO_TORN_TAIL(w);
    EXPECT_VERSION(w, 1, 1, 10);
    EXPECT_PAYLOAD(w, 2, b, sizeof b);
    EXPECT_VERSION(w, 3, 1, 10);
    EXPECT_NOT_FOUND(w, 4);
    EXPECT_PAYLOAD(w, 5, c, sizeof c);
    EXPECT_NOT_FOUND(w, 6);
    EXPECT_NOT_FOUND(w, 7);
    EXPECT_NOT_FOUND(w, 8);
    EXPECT_NOT_FOUND(w, 9);
    EXPECT_PAYLOAD(w, 10, c, sizeof c);
    EXPECT_PAYLOAD(w, 11, NULL, 0);
    EXPECT_NOT_FOUND(w, 98);
    EXPECT_NOT_FOUND(w, 99);
    CHECK(stat_live_ids(w) == 6);
    CHECK(stat_live_bytes(w) == 10 + 9 + 10 + 3 + 3 + 0);
    /* Sequence numbers go on from the log: 23 above, then the 3-op batch
     * (24..28) and the lone store (29). */
    CHECK_STATUS(wal_delete_range_seq(w, 10, 11, &seq), WAL_OK);
    CHECK(seq == 30);
    EXPECT_NOT_FOUND(w, 10);
    EXPECT_NOT_FOUND(w, 11);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* ---- The ends of the id space, and ranges wide and narrow. ---- */
    const char *dir2 = new_dir();
    w = NULL;
    CHECK_STATUS(wal_open(dir2, o, &w), WAL_OK);
    wal_options_free(o);
    const uint64_t ids[] = {0, 1, 2, 9, 10, 20, 21, UINT64_MAX - 1, UINT64_MAX};
    const size_t nids = sizeof ids / sizeof ids[0];
    for (size_t i = 0; i < nids; i++) {
        STORE_VERSION(w, ids[i], 1, 12);
    }
    CHECK_STATUS(wal_delete_range(w, UINT64_MAX, UINT64_MAX), WAL_OK); /* only the top id */
    EXPECT_NOT_FOUND(w, UINT64_MAX);
    EXPECT_VERSION(w, UINT64_MAX - 1, 1, 12);
    CHECK_STATUS(wal_delete_range(w, 0, 0), WAL_OK); /* only id 0 */
    EXPECT_NOT_FOUND(w, 0);
    EXPECT_VERSION(w, 1, 1, 12);
    CHECK_STATUS(wal_delete_range(w, 10, 20), WAL_OK); /* both ends, not their neighbours */
    EXPECT_VERSION(w, 9, 1, 12);
    EXPECT_NOT_FOUND(w, 10);
    EXPECT_NOT_FOUND(w, 20);
    EXPECT_VERSION(w, 21, 1, 12);
    CHECK_STATUS(wal_delete_range(w, 3, UINT64_MAX - 2), WAL_OK); /* wide: 9 and 21 */
    EXPECT_VERSION(w, 2, 1, 12);
    EXPECT_NOT_FOUND(w, 9);
    EXPECT_NOT_FOUND(w, 21);
    EXPECT_VERSION(w, UINT64_MAX - 1, 1, 12);
    CHECK(stat_live_ids(w) == 3); /* 1, 2, UINT64_MAX - 1 */
    CHECK_STATUS(wal_snapshot(w), WAL_OK);
    /* After the snapshot: a batch that stores the top id and id 0 again,
     * then a range over the whole id space, then a store. */
    const wal_write_op ends[] = {op_store(UINT64_MAX, a, sizeof a), op_store(0, b, sizeof b),
                                 op_range(0, UINT64_MAX), op_store(UINT64_MAX, c, sizeof c)};
    CHECK_STATUS(wal_write_batch(w, ends, 4), WAL_OK);
    EXPECT_PAYLOAD(w, UINT64_MAX, c, sizeof c);
    for (size_t i = 0; i + 1 < nids; i++) {
        EXPECT_NOT_FOUND(w, ids[i]);
    }
    CHECK(stat_live_ids(w) == 1);
    CHECK(stat_live_bytes(w) == sizeof c);
    CHECK_STATUS(wal_close(w), WAL_OK);

    w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    uint64_t snap = U64_SENTINEL;
    CHECK_STATUS(wal_open_snapshot_used(w, &snap), WAL_OK);
    CHECK(records_replayed(w) == 4); /* only the batch after the snapshot */
    EXPECT_PAYLOAD(w, UINT64_MAX, c, sizeof c);
    for (size_t i = 0; i + 1 < nids; i++) {
        EXPECT_NOT_FOUND(w, ids[i]);
    }
    CHECK(stat_live_ids(w) == 1);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 6. Open report and snapshot threshold                                    */
/* ------------------------------------------------------------------------ */

static void test_report_and_snapshot(void)
{
    section("open report (records replayed, damaged, torn tail), log position, wal_should_snapshot");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 1000), WAL_OK);
    /* This section schedules its snapshots itself. */
    CHECK_STATUS(wal_options_set_auto_snapshot(o, false), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_snapshot(NULL, false), WAL_INVALID_ARGUMENT);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK(wal_should_snapshot(w) == false);

    for (uint64_t id = 1; id <= 5; id++) {
        STORE_VERSION(w, id, 1, 100);
    }
    CHECK(log_position(w) == 64 + 5 * 132);
    CHECK(wal_should_snapshot(w) == false); /* 724 bytes < 1000 */
    STORE_VERSION(w, 2, 2, 100);
    CHECK(wal_should_snapshot(w) == false); /* 856 bytes */
    CHECK_STATUS(wal_delete(w, 3), WAL_OK);
    CHECK_STATUS(wal_delete(w, 4), WAL_OK);
    uint8_t p6[100], p7[100], p8[100];
    fill(p6, 100, 6, 1);
    fill(p7, 100, 7, 1);
    fill(p8, 100, 8, 1);
    wal_entry batch[] = {{6, p6, 100}, {7, p7, 100}, {8, p8, 100}};
    CHECK_STATUS(wal_store_batch(w, batch, 3), WAL_OK);
    uint64_t end = log_position(w);
    CHECK(end > 1000);
    CHECK(wal_should_snapshot(w) == true);
    CHECK_STATUS(wal_close(w), WAL_OK);
    CHECK((uint64_t)file_size(lp) == end);

    /* 5 stores + 1 overwrite + 2 deletes + 3 batch entries = 11. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK(records_replayed(w) == 11);
    CHECK(damaged_records(w) == 0);
    EXPECT_NO_TORN_TAIL(w);
    CHECK(log_position(w) == end);
    EXPECT_VERSION(w, 1, 1, 100);
    EXPECT_VERSION(w, 2, 2, 100);
    EXPECT_NOT_FOUND(w, 3);
    EXPECT_NOT_FOUND(w, 4);
    EXPECT_VERSION(w, 5, 1, 100);
    EXPECT_VERSION(w, 6, 1, 100);
    EXPECT_VERSION(w, 7, 1, 100);
    EXPECT_VERSION(w, 8, 1, 100);
    printf("   reopen: %llu records replayed, log position %llu, should_snapshot %s\n",
           (unsigned long long)records_replayed(w), (unsigned long long)end,
           wal_should_snapshot(w) ? "true" : "false");

    /* A snapshot: should_snapshot turns false, and the next open loads it
     * and replays only what follows. */
    uint64_t u = 0;
    CHECK_STATUS(wal_open_snapshot_used(w, &u), WAL_NOT_FOUND);
    CHECK_ERR("wal_open_snapshot_used");
    CHECK_STATUS(wal_snapshot_position(w, &u), WAL_OK);
    CHECK(u == 64);
    CHECK(wal_should_snapshot(w) == true);
    CHECK_STATUS(wal_snapshot(w), WAL_OK);
    CHECK(wal_should_snapshot(w) == false);
    CHECK_STATUS(wal_snapshot_position(w, &u), WAL_OK);
    CHECK(u == end);
    STORE_VERSION(w, 9, 1, 100);
    CHECK_STATUS(wal_snapshot(NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_snapshot");
    CHECK_STATUS(wal_snapshot_position(NULL, &u), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_snapshot_position(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_snapshot_used(NULL, &u), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_snapshot_used(w, NULL), WAL_INVALID_ARGUMENT);
    bool reinit = true;
    CHECK_STATUS(wal_open_reinitialised(w, &reinit), WAL_OK);
    CHECK(reinit == false);
    CHECK_STATUS(wal_open_reinitialised(NULL, &reinit), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_reinitialised(w, NULL), WAL_INVALID_ARGUMENT);
    /* Stats: 8 live ids of 100 bytes; dead = the overwritten id 2, ids 3
     * and 4 with their tombstones, and the batch framing. */
    uint64_t live = 0, live_bytes = 0, log_bytes = 0, dead = 0, micros = 0;
    double ratio = -1.0;
    CHECK_STATUS(wal_stat_live_ids(w, &live), WAL_OK);
    CHECK_STATUS(wal_stat_live_bytes(w, &live_bytes), WAL_OK);
    CHECK_STATUS(wal_stat_log_bytes(w, &log_bytes), WAL_OK);
    CHECK_STATUS(wal_stat_dead_bytes(w, &dead), WAL_OK);
    CHECK_STATUS(wal_stat_dead_ratio(w, &ratio), WAL_OK);
    CHECK_STATUS(wal_open_duration_us(w, &micros), WAL_OK);
    CHECK(live == 7 && live_bytes == 700);
    CHECK(log_bytes == log_position(w));
    CHECK(dead == log_bytes - 64 - 7 * 132);
    CHECK(ratio == (double)dead / (double)(log_bytes - 64));
    CHECK_STATUS(wal_stat_live_ids(NULL, &live), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_live_bytes(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_log_bytes(NULL, &log_bytes), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_dead_bytes(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_dead_ratio(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_open_duration_us(NULL, &micros), WAL_INVALID_ARGUMENT);

    /* A cursor sees the entries as they were when it was opened. */
    wal_iter_t *it = NULL;
    CHECK_STATUS(wal_iter_open(w, &it), WAL_OK);
    CHECK_STATUS(wal_delete(w, 9), WAL_OK);
    uint64_t want_ids[] = {1, 2, 5, 6, 7, 8, 9};
    size_t n = 0;
    for (;;) {
        bool has = false;
        uint64_t got_id = 0;
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK_STATUS(wal_iter_next(it, &has, &got_id, &data, &len), WAL_OK);
        if (!has) {
            break;
        }
        CHECK(n < sizeof want_ids / sizeof want_ids[0] && got_id == want_ids[n]);
        CHECK(data != NULL && len == 100);
        uint8_t expect[100];
        fill(expect, 100, got_id, got_id == 2 ? 2 : 1);
        CHECK(memcmp(data, expect, 100) == 0);
        n++;
    }
    CHECK(n == 7);
    bool has = true;
    uint64_t got_id = 0;
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_STATUS(wal_iter_next(it, &has, &got_id, &data, &len), WAL_OK);
    CHECK(has == false);
    CHECK_STATUS(wal_iter_next(NULL, &has, &got_id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_iter_next(it, NULL, &got_id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_iter_next(it, &has, NULL, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_iter_next(it, &has, &got_id, NULL, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_iter_next(it, &has, &got_id, &data, NULL), WAL_INVALID_ARGUMENT);
    wal_iter_free(it);
    wal_iter_free(NULL);
    CHECK_STATUS(wal_iter_open(NULL, &it), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_iter_open(w, NULL), WAL_INVALID_ARGUMENT);
    STORE_VERSION(w, 9, 1, 100);

    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK_STATUS(wal_open_snapshot_used(w, &u), WAL_OK);
    CHECK(u == end);
    CHECK(records_replayed(w) == 3);
    EXPECT_VERSION(w, 9, 1, 100);
    EXPECT_NOT_FOUND(w, 3);
    EXPECT_VERSION(w, 8, 1, 100);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Threshold 0: never true, however much is written. */
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 0), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK(wal_should_snapshot(w) == false);
    for (uint64_t id = 100; id < 120; id++) {
        STORE_VERSION(w, id, 1, 200);
    }
    CHECK(wal_should_snapshot(w) == false);
    CHECK_STATUS(wal_close(w), WAL_OK);
    wal_options_free(o);

    /* The default threshold (64 MiB) is far away. */
    const char *dir2 = new_dir();
    w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    for (uint64_t id = 0; id < 10; id++) {
        STORE_VERSION(w, id, 1, 300);
    }
    CHECK(wal_should_snapshot(w) == false);
    CHECK(wal_should_snapshot(NULL) == false);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Automatic snapshots (on by default): crossing the threshold starts
     * one in the background; the next open loads it. */
    const char *dir3 = new_dir();
    o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 1000), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir3, o, &w), WAL_OK);
    wal_options_free(o);
    for (uint64_t id = 0; id < 10; id++) {
        STORE_VERSION(w, id, 1, 200);
    }
    uint64_t autos = 0, failures = 1;
    for (int i = 0; i < 30000 && autos == 0; i++) { /* 30 s at most */
        CHECK_STATUS(wal_stat_auto_snapshots(w, &autos), WAL_OK);
        if (autos == 0) {
            struct timespec ms = {0, 1000000};
            nanosleep(&ms, NULL);
        }
    }
    CHECK(autos >= 1);
    CHECK_STATUS(wal_stat_auto_snapshot_failures(w, &failures), WAL_OK);
    CHECK(failures == 0);
    CHECK_STATUS(wal_stat_auto_snapshots(NULL, &autos), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_auto_snapshot_failures(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir3, NULL, &w), WAL_OK);
    uint64_t used = 0;
    CHECK_STATUS(wal_open_snapshot_used(w, &used), WAL_OK);
    CHECK(used > 1000);
    for (uint64_t id = 0; id < 10; id++) {
        EXPECT_VERSION(w, id, 1, 200);
    }
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 7. Durability levels                                                     */
/* ------------------------------------------------------------------------ */

static void durability_round(int32_t level, size_t write_buffer, const char *label)
{
    const char *dir = new_dir();
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_durability(o, level), WAL_OK);
    if (write_buffer != 0) {
        CHECK_STATUS(wal_options_set_write_buffer(o, write_buffer), WAL_OK);
    }
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    wal_options_free(o);

    uint64_t records = 0;
    /* Each write is visible to a read at once (for NONE, from the buffer). */
    for (uint64_t id = 1; id <= 20; id++) {
        STORE_VERSION(w, id, 1, (size_t)(id * 15));
        EXPECT_VERSION(w, id, 1, (size_t)(id * 15));
        records++;
    }
    uint8_t b0[40], b2[300];
    fill(b0, sizeof b0, 100, 1);
    fill(b2, sizeof b2, 102, 1);
    wal_entry batch[] = {{100, b0, sizeof b0}, {101, NULL, 0}, {102, b2, sizeof b2}, {7, b0, sizeof b0}};
    CHECK_STATUS(wal_store_batch(w, batch, 4), WAL_OK);
    records += 4;
    EXPECT_PAYLOAD(w, 100, b0, sizeof b0);
    EXPECT_PAYLOAD(w, 101, NULL, 0);
    EXPECT_PAYLOAD(w, 102, b2, sizeof b2);
    EXPECT_PAYLOAD(w, 7, b0, sizeof b0);
    CHECK_STATUS(wal_delete(w, 5), WAL_OK);
    records++;
    EXPECT_NOT_FOUND(w, 5);
    STORE_VERSION(w, 6, 2, 500);
    records++;
    EXPECT_VERSION(w, 6, 2, 500);
    CHECK_STATUS(wal_sync(w), WAL_OK);
    /* Written after the sync: wal_close must flush and sync these. */
    STORE_VERSION(w, 200, 1, 64);
    CHECK_STATUS(wal_delete(w, 8), WAL_OK);
    records += 2;
    EXPECT_VERSION(w, 200, 1, 64);
    EXPECT_NOT_FOUND(w, 8);
    CHECK_STATUS(wal_close(w), WAL_OK);

    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == records);
    for (uint64_t id = 1; id <= 20; id++) {
        if (id == 5 || id == 8) {
            EXPECT_NOT_FOUND(w, id);
        } else if (id == 6) {
            EXPECT_VERSION(w, id, 2, 500);
        } else if (id == 7) {
            EXPECT_PAYLOAD(w, 7, b0, sizeof b0);
        } else {
            EXPECT_VERSION(w, id, 1, (size_t)(id * 15));
        }
    }
    EXPECT_PAYLOAD(w, 100, b0, sizeof b0);
    EXPECT_PAYLOAD(w, 101, NULL, 0);
    EXPECT_PAYLOAD(w, 102, b2, sizeof b2);
    EXPECT_VERSION(w, 200, 1, 64);
    CHECK_STATUS(wal_close(w), WAL_OK);
    printf("   %-36s %llu records survived close + reopen\n", label, (unsigned long long)records);
}

static void test_durability(void)
{
    section("durability levels: write, read back, sync, close, reopen");
    durability_round(WAL_DURABILITY_FSYNC, 0, "FSYNC:");
    durability_round(WAL_DURABILITY_FLUSH, 0, "FLUSH:");
    durability_round(WAL_DURABILITY_NONE, 0, "NONE (default 256 KiB buffer):");
    durability_round(WAL_DURABILITY_NONE, 64, "NONE (64-byte buffer, fills often):");
    durability_round(WAL_DURABILITY_NONE, 1, "NONE (1-byte buffer):");
}

/* ------------------------------------------------------------------------ */
/* 8. Read-only opens and locking                                           */
/* ------------------------------------------------------------------------ */

static void test_read_only_and_locking(void)
{
    section("locking (WAL_LOCKED) and read-only handles");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    for (uint64_t id = 1; id <= 3; id++) {
        STORE_VERSION(w, id, 1, 40);
    }

    /* A writer holds the store: a second writer and a reader are refused. */
    wal_t *w2 = WAL_SENTINEL;
    CHECK_STATUS(wal_open(dir, NULL, &w2), WAL_LOCKED);
    CHECK_ERR("wal_open");
    CHECK(w2 == WAL_SENTINEL);
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &w2), WAL_LOCKED);
    CHECK_ERR("wal_open");
    CHECK(w2 == WAL_SENTINEL);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Two readers side by side. */
    size_t before_len = 0;
    uint8_t *before = slurp(lp, &before_len);
    wal_t *r1 = NULL, *r2 = NULL;
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &r1), WAL_OK);
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &r2), WAL_OK);
    CHECK(r1 != NULL && r2 != NULL && r1 != r2);
    EXPECT_VERSION(r1, 2, 1, 40);
    EXPECT_VERSION(r2, 3, 1, 40);
    CHECK(records_replayed(r1) == 3);
    EXPECT_NO_TORN_TAIL(r1);

    /* Readers hold the store: a writer is refused. */
    w2 = WAL_SENTINEL;
    CHECK_STATUS(wal_open(dir, NULL, &w2), WAL_LOCKED);
    CHECK_ERR("wal_open");
    CHECK(w2 == WAL_SENTINEL);

    /* Every write call on a read-only handle: WAL_INVALID_ARGUMENT. */
    uint8_t data[8] = {1, 2, 3, 4, 5, 6, 7, 8};
    CHECK_STATUS(wal_store(r1, 9, data, sizeof data), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store");
    CHECK_STATUS(wal_store(r1, 1, data, sizeof data), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_store(r1, 9, NULL, 0), WAL_INVALID_ARGUMENT);
    wal_entry e[] = {{9, data, sizeof data}, {10, data, 4}};
    CHECK_STATUS(wal_store_batch(r1, e, 2), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_batch");
    CHECK_STATUS(wal_delete(r1, 1), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete");
    const wal_write_op wops[] = {op_store(9, data, sizeof data), op_delete(1), op_range(0, UINT64_MAX)};
    CHECK_STATUS(wal_write_batch(r1, wops, 3), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch");
    CHECK_ERR_HAS("write batch refused: the store in ");
    CHECK_ERR_HAS(" was opened read-only");
    CHECK_STATUS(wal_write_batch(r1, &wops[1], 1), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_write_batch(r1, wops, 0), WAL_INVALID_ARGUMENT); /* even an empty batch */
    CHECK_STATUS(wal_write_batch(r1, NULL, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch");
    uint64_t seq = U64_SENTINEL;
    CHECK_STATUS(wal_write_batch_seq(r1, wops, 3, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_write_batch_seq");
    CHECK_STATUS(wal_write_batch_seq(r1, NULL, 0, &seq), WAL_INVALID_ARGUMENT);
    CHECK(seq == U64_SENTINEL);
    CHECK_STATUS(wal_delete_range(r1, 0, UINT64_MAX), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range");
    CHECK_ERR_HAS("delete range refused: the store in ");
    CHECK_STATUS(wal_delete_range(r1, 5, 6), WAL_INVALID_ARGUMENT); /* holds no id: refused all the same */
    CHECK_STATUS(wal_delete_range_seq(r1, 1, 1, &seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_delete_range_seq");
    CHECK(seq == U64_SENTINEL);
    CHECK_STATUS(wal_sync(r1), WAL_OK); /* does nothing on a read-only store */
    EXPECT_NOT_FOUND(r1, 9);
    EXPECT_NOT_FOUND(r1, 10);
    EXPECT_VERSION(r1, 1, 1, 40);
    EXPECT_VERSION(r1, 2, 1, 40);
    EXPECT_VERSION(r1, 3, 1, 40);
    EXPECT_VERSION(r2, 1, 1, 40);
    CHECK_STATUS(wal_close(r1), WAL_OK);
    CHECK_STATUS(wal_close(r2), WAL_OK);
    CHECK(file_equals(lp, before, before_len)); /* nothing written */
    free(before);

    /* With every handle closed the store opens for writing again. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    EXPECT_VERSION(w, 3, 1, 40);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 9. Corruption                                                            */
/* ------------------------------------------------------------------------ */

/* A fresh store with ids 1..count, 20 bytes each (record i at 64 + 52(i-1)). */
static const char *make_store_of_20s(uint64_t count)
{
    const char *dir = new_dir();
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    for (uint64_t id = 1; id <= count; id++) {
        STORE_VERSION(w, id, 1, 20);
    }
    CHECK(log_position(w) == 64 + 52 * count);
    CHECK_STATUS(wal_close(w), WAL_OK);
    return dir;
}

static void test_corruption_closed(void)
{
    section("corruption found at open: STRICT and ABSOLUTE fail, SALVAGE isolates the damaged id");

    const char *dir = make_store_of_20s(5);
    char lp[128];
    log_path(dir, lp, sizeof lp);
    flip_byte(lp, 96 + 3); /* inside id 1's payload; valid records follow */

    wal_t *w = WAL_SENTINEL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_CORRUPTION); /* STRICT, the default */
    CHECK_ERR("wal_open");
    CHECK_ERR_HAS("CRC");
    CHECK_ERR_HAS("wal-0000000000000001.log");
    CHECK(w == WAL_SENTINEL);
    printf("   STRICT open: %s\n", wal_last_error());
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, false, &w), WAL_CORRUPTION);
    CHECK(w == WAL_SENTINEL);
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_ABSOLUTE, false, &w), WAL_CORRUPTION);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);

    /* SALVAGE: only id 1 reads as WAL_CORRUPTION. */
    w = NULL;
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_SALVAGE, false, &w), WAL_OK);
    CHECK(damaged_records(w) == 1);
    uint8_t buf[64];
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, buf, sizeof buf, &out_len), WAL_CORRUPTION);
    CHECK_ERR("wal_retrieve");
    CHECK(out_len == LEN_SENTINEL);
    uint8_t *p = BUF_SENTINEL;
    size_t plen = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve_alloc(w, 1, &p, &plen), WAL_CORRUPTION);
    CHECK_ERR("wal_retrieve_alloc");
    CHECK(p == BUF_SENTINEL && plen == LEN_SENTINEL);
    for (uint64_t id = 2; id <= 5; id++) {
        EXPECT_VERSION(w, id, 1, 20);
    }
    EXPECT_NOT_FOUND(w, 6);
    printf("   SALVAGE open: %llu damaged record(s), %llu replayed; ids 2..5 intact, id 1 -> %s\n",
           (unsigned long long)damaged_records(w), (unsigned long long)records_replayed(w),
           status_name(WAL_CORRUPTION));
    CHECK_STATUS(wal_close(w), WAL_OK);
}

static void test_corruption_while_open(void)
{
    section("corruption under an open handle: every read re-checks the CRC");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    for (uint64_t id = 1; id <= 3; id++) {
        STORE_VERSION(w, id, 1, 20);
    }
    EXPECT_VERSION(w, 1, 1, 20);

    flip_byte(lp, 96);
    uint8_t buf[64];
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 1, buf, sizeof buf, &out_len), WAL_CORRUPTION);
    CHECK_ERR("wal_retrieve");
    CHECK_ERR_HAS("CRC");
    CHECK_ERR_HAS("wal-0000000000000001.log");
    CHECK(out_len == LEN_SENTINEL);
    printf("   %s\n", wal_last_error());
    uint8_t *p = BUF_SENTINEL;
    size_t plen = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve_alloc(w, 1, &p, &plen), WAL_CORRUPTION);
    CHECK_ERR("wal_retrieve_alloc");
    CHECK_ERR_HAS("CRC");
    CHECK(p == BUF_SENTINEL && plen == LEN_SENTINEL);
    EXPECT_VERSION(w, 2, 1, 20);
    EXPECT_VERSION(w, 3, 1, 20);

    /* Undo the damage: the next read checks again and succeeds. */
    flip_byte(lp, 96);
    EXPECT_VERSION(w, 1, 1, 20);
    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 3);
    EXPECT_VERSION(w, 1, 1, 20);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

static void test_torn_tail(void)
{
    section("torn tail: STRICT cuts and saves it, read-only ignores it, ABSOLUTE refuses");

    /* (a) garbage appended after the last record. */
    const char *dir = make_store_of_20s(3);
    char lp[128];
    log_path(dir, lp, sizeof lp);
    const uint64_t S = 64 + 3 * 52;
    CHECK((uint64_t)file_size(lp) == S);
    static const char garbage[] = "GARBAGE";
    const size_t G = sizeof garbage - 1;
    append_raw(lp, garbage, G);

    wal_t *w = WAL_SENTINEL;
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_ABSOLUTE, false, &w), WAL_CORRUPTION);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    CHECK((uint64_t)file_size(lp) == S + G); /* nothing cut */

    /* Read-only: reports the tail, leaves it in place, saves nothing. */
    w = NULL;
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &w), WAL_OK);
    uint64_t off = U64_SENTINEL, bytes = U64_SENTINEL;
    CHECK_STATUS(wal_open_torn_tail(w, &off, &bytes), WAL_OK);
    CHECK(off == S && bytes == G);
    const char *tp = STR_SENTINEL;
    CHECK_STATUS(wal_open_torn_tail_path(w, &tp), WAL_NOT_FOUND);
    CHECK_ERR("wal_open_torn_tail_path");
    CHECK(tp == STR_SENTINEL);
    for (uint64_t id = 1; id <= 3; id++) {
        EXPECT_VERSION(w, id, 1, 20);
    }
    CHECK_STATUS(wal_close(w), WAL_OK);
    CHECK((uint64_t)file_size(lp) == S + G);

    /* STRICT writable: cuts the tail and saves it to a side file. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    off = bytes = U64_SENTINEL;
    CHECK_STATUS(wal_open_torn_tail(w, &off, &bytes), WAL_OK);
    CHECK(off == S && bytes == G);
    tp = NULL;
    CHECK_STATUS(wal_open_torn_tail_path(w, &tp), WAL_OK);
    CHECK(tp != NULL && tp[0] != '\0');
    CHECK(strstr(tp, "wal-0000000000000001.log.cut") != NULL);
    CHECK(exists(tp));
    CHECK(file_equals(tp, (const uint8_t *)garbage, G));
    printf("   cut %llu bytes at offset %llu, saved to %s\n", (unsigned long long)bytes,
           (unsigned long long)off, tp);
    CHECK((uint64_t)file_size(lp) == S);
    CHECK(log_position(w) == S);
    CHECK(records_replayed(w) == 3);
    CHECK(damaged_records(w) == 0);
    for (uint64_t id = 1; id <= 3; id++) {
        EXPECT_VERSION(w, id, 1, 20);
    }
    STORE_VERSION(w, 4, 1, 20);
    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    EXPECT_NO_TORN_TAIL(w);
    CHECK(records_replayed(w) == 4);
    EXPECT_VERSION(w, 4, 1, 20);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* (b) the last record's payload damaged: that is a torn tail too. */
    const char *dir2 = make_store_of_20s(3);
    char lp2[128];
    log_path(dir2, lp2, sizeof lp2);
    const uint64_t last = 64 + 2 * 52;
    flip_byte(lp2, (off_t)(last + 32 + 5));
    w = WAL_SENTINEL;
    CHECK_STATUS(open_with(dir2, WAL_DURABILITY_FSYNC, WAL_RECOVERY_ABSOLUTE, false, &w), WAL_CORRUPTION);
    CHECK(w == WAL_SENTINEL);
    w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    off = bytes = U64_SENTINEL;
    CHECK_STATUS(wal_open_torn_tail(w, &off, &bytes), WAL_OK);
    CHECK(off == last && bytes == 52);
    tp = NULL;
    CHECK_STATUS(wal_open_torn_tail_path(w, &tp), WAL_OK);
    CHECK(tp != NULL && exists(tp) && file_size(tp) == 52);
    CHECK(records_replayed(w) == 2);
    EXPECT_VERSION(w, 1, 1, 20);
    EXPECT_VERSION(w, 2, 1, 20);
    EXPECT_NOT_FOUND(w, 3);
    CHECK((uint64_t)file_size(lp2) == last);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* ------------------------------------------------------------------------ */
/* 10. Incompatible files                                                   */
/* ------------------------------------------------------------------------ */

static void expect_incompatible_untouched(const char *dir, const char *lp)
{
    size_t len = 0;
    uint8_t *before = slurp(lp, &len);
    wal_t *w = WAL_SENTINEL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_INCOMPATIBLE);
    CHECK_ERR("wal_open");
    CHECK(w == WAL_SENTINEL);
    printf("   %s\n", wal_last_error());
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_SALVAGE, false, &w), WAL_INCOMPATIBLE);
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &w), WAL_INCOMPATIBLE);
    CHECK(w == WAL_SENTINEL);
    CHECK(file_equals(lp, before, len)); /* byte for byte */
    free(before);
}

static void test_incompatible(void)
{
    section("incompatible files are refused and left untouched");

    /* (a) not a walstore log at all. */
    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    char text[101];
    for (size_t i = 0; i < 100; i++) {
        text[i] = "This is a plain text file, not a walstore log.\n"[i % 47];
    }
    text[100] = '\0';
    write_whole(lp, text, 100);
    expect_incompatible_untouched(dir, lp);

    /* (b) a real log with format version 2: header CRC left stale, and
     * then recomputed as a future walstore would write it. */
    const char *dir2 = make_store_of_20s(2);
    char lp2[128];
    log_path(dir2, lp2, sizeof lp2);
    size_t len = 0;
    uint8_t *orig = slurp(lp2, &len);
    uint8_t *v2 = malloc(len);
    CHECK(v2 != NULL);
    memcpy(v2, orig, len);
    put_le32(v2 + 8, 2);
    write_whole(lp2, v2, len);
    expect_incompatible_untouched(dir2, lp2);
    put_le32(v2 + 60, crc32_ieee(v2, 60));
    write_whole(lp2, v2, len);
    expect_incompatible_untouched(dir2, lp2);

    /* Put version 1 back: the store opens with its data intact. */
    write_whole(lp2, orig, len);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 2);
    EXPECT_VERSION(w, 1, 1, 20);
    EXPECT_VERSION(w, 2, 1, 20);
    CHECK_STATUS(wal_close(w), WAL_OK);
    free(orig);
    free(v2);
}

/* ------------------------------------------------------------------------ */
/* 11. WAL_IO from a file size limit                                        */
/* ------------------------------------------------------------------------ */

static void set_fsize_limit(rlim_t cur)
{
    struct rlimit rl;
    CHECK(getrlimit(RLIMIT_FSIZE, &rl) == 0);
    CHECK(rl.rlim_max == RLIM_INFINITY || cur <= rl.rlim_max);
    rl.rlim_cur = cur;
    CHECK(setrlimit(RLIMIT_FSIZE, &rl) == 0);
}

static void test_io_error(void)
{
    section("WAL_IO: RLIMIT_FSIZE makes appends fail with EFBIG; rolled back, handle stays usable");

    const char *dir = new_dir();
    char lp[128];
    log_path(dir, lp, sizeof lp);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    for (uint64_t id = 1; id <= 10; id++) {
        STORE_VERSION(w, id, 1, 50);
    }
    const uint64_t P = log_position(w);

    struct rlimit saved;
    CHECK(getrlimit(RLIMIT_FSIZE, &saved) == 0);
    void (*old_handler)(int) = signal(SIGXFSZ, SIG_IGN);
    CHECK(old_handler != SIG_ERR);

    /* Room for a little more, not for 64 KiB. */
    set_fsize_limit((rlim_t)(P + 1000));
    const size_t BIG = 64 * 1024;
    uint8_t *big = malloc(BIG);
    CHECK(big != NULL);
    fill(big, BIG, 100, 1);
    CHECK_STATUS(wal_store(w, 100, big, BIG), WAL_IO);
    CHECK_ERR("wal_store");
    printf("   %s\n", wal_last_error());
    CHECK(log_position(w) == P);
    CHECK((uint64_t)file_size(lp) == P);
    EXPECT_NOT_FOUND(w, 100);

    wal_entry e[] = {{101, big, 600}, {102, big, 600}};
    CHECK_STATUS(wal_store_batch(w, e, 2), WAL_IO);
    CHECK_ERR("wal_store_batch");
    EXPECT_NOT_FOUND(w, 101);
    EXPECT_NOT_FOUND(w, 102);
    CHECK(log_position(w) == P);

    /* A mixed batch: none of it is acknowledged, deletes included. */
    const wal_write_op wops[] = {op_store(104, big, 600), op_delete(1), op_range(3, 4), op_store(105, big, 600)};
    CHECK_STATUS(wal_write_batch(w, wops, 4), WAL_IO);
    CHECK_ERR("wal_write_batch");
    uint64_t seq = U64_SENTINEL;
    CHECK_STATUS(wal_write_batch_seq(w, wops, 4, &seq), WAL_IO);
    CHECK_ERR("wal_write_batch_seq");
    CHECK(seq == U64_SENTINEL);
    EXPECT_NOT_FOUND(w, 104);
    EXPECT_NOT_FOUND(w, 105);
    EXPECT_VERSION(w, 1, 1, 50);
    EXPECT_VERSION(w, 3, 1, 50);
    EXPECT_VERSION(w, 4, 1, 50);
    CHECK(log_position(w) == P);

    /* No room at all: even small appends and deletes fail. */
    set_fsize_limit((rlim_t)P);
    CHECK_STATUS(wal_store(w, 103, big, 10), WAL_IO);
    CHECK_ERR("wal_store");
    CHECK_STATUS(wal_delete(w, 1), WAL_IO);
    CHECK_ERR("wal_delete");
    CHECK_STATUS(wal_delete_range(w, 1, 10), WAL_IO);
    CHECK_ERR("wal_delete_range");
    CHECK_STATUS(wal_delete_range_seq(w, 0, UINT64_MAX, &seq), WAL_IO);
    CHECK_ERR("wal_delete_range_seq");
    CHECK(seq == U64_SENTINEL);
    CHECK_STATUS(wal_write_batch(w, &wops[1], 1), WAL_IO);
    CHECK_ERR("wal_write_batch");
    EXPECT_VERSION(w, 1, 1, 50);
    EXPECT_VERSION(w, 10, 1, 50);
    EXPECT_NOT_FOUND(w, 103);
    CHECK(log_position(w) == P);

    /* Limit restored: the same handle writes again, nothing acknowledged
     * earlier was lost. */
    CHECK(setrlimit(RLIMIT_FSIZE, &saved) == 0);
    CHECK(signal(SIGXFSZ, old_handler) != SIG_ERR);
    CHECK_STATUS(wal_store(w, 100, big, BIG), WAL_OK);
    EXPECT_PAYLOAD(w, 100, big, BIG);
    CHECK_STATUS(wal_delete(w, 2), WAL_OK);
    CHECK_STATUS(wal_sync(w), WAL_OK);
    for (uint64_t id = 1; id <= 10; id++) {
        if (id == 2) {
            EXPECT_NOT_FOUND(w, id);
        } else {
            EXPECT_VERSION(w, id, 1, 50);
        }
    }
    CHECK_STATUS(wal_close(w), WAL_OK);

    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 12); /* 10 stores + id 100 + delete of 2 */
    EXPECT_NO_TORN_TAIL(w);
    EXPECT_PAYLOAD(w, 100, big, BIG);
    for (uint64_t id = 1; id <= 10; id++) {
        if (id == 2) {
            EXPECT_NOT_FOUND(w, id);
        } else {
            EXPECT_VERSION(w, id, 1, 50);
        }
    }
    EXPECT_NOT_FOUND(w, 101);
    EXPECT_NOT_FOUND(w, 103);
    CHECK_STATUS(wal_close(w), WAL_OK);
    free(big);
}

/* ------------------------------------------------------------------------ */
/* 12. Threads                                                              */
/* ------------------------------------------------------------------------ */

#define NTHREADS 8
#define PER_THREAD 150
#define BATCH_N 10
#define SHARED_ID 7u

struct worker {
    wal_t *w;
    int t;
    uint64_t records;
};

static uint64_t worker_base(int t)
{
    return (uint64_t)(t + 1) * 1000000u;
}

static size_t len_v1(uint64_t i)
{
    return (size_t)(1 + (i * 37) % 200);
}

static size_t len_v2(uint64_t i)
{
    return (size_t)(3 + (i * 11) % 150);
}

static void *worker_main(void *arg)
{
    struct worker *k = arg;
    wal_t *w = k->w;
    const uint64_t base = worker_base(k->t);

    /* A thread that has not failed has no message, whatever other threads
     * did. */
    const char *e = wal_last_error();
    CHECK(e != NULL && e[0] == '\0');

    for (uint64_t i = 0; i < PER_THREAD; i++) {
        STORE_VERSION(w, base + i, 1, len_v1(i));
        EXPECT_VERSION(w, base + i, 1, len_v1(i));
        k->records++;
        if (i % 16 == 0) {
            EXPECT_VERSION(w, SHARED_ID, 1, 99);
        }
    }
    for (uint64_t i = 0; i < PER_THREAD; i += 2) {
        STORE_VERSION(w, base + i, 2, len_v2(i));
        EXPECT_VERSION(w, base + i, 2, len_v2(i));
        k->records++;
    }
    uint8_t bufs[BATCH_N][40];
    wal_entry entries[BATCH_N];
    for (uint64_t j = 0; j < BATCH_N; j++) {
        fill(bufs[j], 40, base + PER_THREAD + j, 3);
        entries[j].id = base + PER_THREAD + j;
        entries[j].data = bufs[j];
        entries[j].len = 40;
    }
    CHECK_STATUS(wal_store_batch(w, entries, BATCH_N), WAL_OK);
    k->records += BATCH_N;
    for (uint64_t j = 0; j < BATCH_N; j++) {
        EXPECT_VERSION(w, base + PER_THREAD + j, 3, 40);
    }
    for (uint64_t i = 0; i < PER_THREAD; i += 3) {
        CHECK_STATUS(wal_delete(w, base + i), WAL_OK);
        k->records++;
        EXPECT_NOT_FOUND(w, base + i);
        CHECK_STATUS(wal_delete(w, base + i), WAL_NOT_FOUND);
        CHECK_ERR("wal_delete");
    }
    return NULL;
}

/* The final state of worker t's ids. */
static void verify_worker(wal_t *w, int t)
{
    const uint64_t base = worker_base(t);
    for (uint64_t i = 0; i < PER_THREAD; i++) {
        if (i % 3 == 0) {
            EXPECT_NOT_FOUND(w, base + i);
        } else if (i % 2 == 0) {
            EXPECT_VERSION(w, base + i, 2, len_v2(i));
        } else {
            EXPECT_VERSION(w, base + i, 1, len_v1(i));
        }
    }
    for (uint64_t j = 0; j < BATCH_N; j++) {
        EXPECT_VERSION(w, base + PER_THREAD + j, 3, 40);
    }
}

struct fsync_worker {
    wal_t *w;
    int t;
};

static void *fsync_worker_main(void *arg)
{
    struct fsync_worker *k = arg;
    for (uint64_t i = 0; i < 25; i++) {
        uint64_t id = (uint64_t)k->t * 1000 + i;
        STORE_VERSION(k->w, id, 1, 64);
        EXPECT_VERSION(k->w, id, 1, 64);
    }
    return NULL;
}

/* ------------------------------------------------------------------------ */
/* Log-order reading: sequence numbers and change cursors                   */
/* ------------------------------------------------------------------------ */

struct change {
    int32_t kind;
    uint64_t seq, id;
    size_t len;
    uint64_t hi; /* a range delete's high end, from its 8-byte payload */
};

/* Reads a whole change stream from `from`, into `out` (up to `cap`). */
static size_t read_changes(wal_t *w, uint64_t from, struct change *out, size_t cap)
{
    wal_changes_t *c = NULL;
    CHECK_STATUS(wal_changes_open(w, from, &c), WAL_OK);
    size_t n = 0;
    for (;;) {
        bool has = false;
        struct change ch = {0, 0, 0, 0, 0};
        const uint8_t *data = NULL;
        CHECK_STATUS(wal_changes_next(c, &has, &ch.kind, &ch.seq, &ch.id, &data, &ch.len), WAL_OK);
        if (!has) {
            break;
        }
        CHECK(data != NULL && n < cap);
        if (ch.kind == WAL_CHANGE_DELETE_RANGE) {
            CHECK(ch.len == 8);
            ch.hi = le64(data);
        } else if (ch.kind != WAL_CHANGE_STORE) {
            CHECK(ch.len == 0);
        }
        out[n++] = ch;
    }
    wal_changes_free(c);
    return n;
}

static void test_changes(void)
{
    section("log order: sequence numbers, change cursors");
    const char *dir = new_dir();
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    uint64_t seq = 0;
    CHECK_STATUS(wal_store_seq(w, 7, (const uint8_t *)"seven", 5, &seq), WAL_OK);
    CHECK(seq == 1);
    wal_entry batch[] = {{1, (const uint8_t *)"a", 1}, {2, NULL, 0}};
    CHECK_STATUS(wal_store_batch_seq(w, batch, 2, &seq), WAL_OK);
    CHECK(seq == 5); /* begin 2, entries 3 and 4, commit 5 */
    CHECK_STATUS(wal_store_batch_seq(w, batch, 0, &seq), WAL_OK);
    CHECK(seq == 0);
    CHECK_STATUS(wal_delete_seq(w, 7, &seq), WAL_OK);
    CHECK(seq == 6);
    CHECK_STATUS(wal_delete_seq(w, 7, &seq), WAL_NOT_FOUND);
    CHECK_STATUS(wal_store_seq(w, 8, (const uint8_t *)"x", 1, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_store_seq");
    CHECK_STATUS(wal_store_batch_seq(w, batch, 2, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_delete_seq(w, 1, NULL), WAL_INVALID_ARGUMENT);
    EXPECT_PAYLOAD(w, 1, (const uint8_t *)"a", 1); /* nothing was written */

    struct change all[16];
    size_t n = read_changes(w, 0, all, 16);
    CHECK(n == 6);
    const struct change want[] = {
        {WAL_CHANGE_STORE, 1, 7, 5, 0},        {WAL_CHANGE_BATCH_BEGIN, 2, 2, 0, 0},
        {WAL_CHANGE_STORE, 3, 1, 1, 0},        {WAL_CHANGE_STORE, 4, 2, 0, 0},
        {WAL_CHANGE_BATCH_COMMIT, 5, 2, 0, 0}, {WAL_CHANGE_DELETE, 6, 7, 0, 0},
    };
    for (size_t i = 0; i < n; i++) {
        CHECK(all[i].kind == want[i].kind && all[i].seq == want[i].seq);
        CHECK(all[i].id == want[i].id && all[i].len == want[i].len);
    }
    /* Resuming after the batch. */
    CHECK(read_changes(w, 6, all, 16) == 1 && all[0].seq == 6);
    CHECK(read_changes(w, 7, all, 16) == 0);

    wal_changes_t *c = NULL;
    bool has = false;
    int32_t kind = 0;
    uint64_t id = 0;
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_STATUS(wal_changes_open(NULL, 0, &c), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_open(w, 0, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_open(w, 0, &c), WAL_OK);
    CHECK_STATUS(wal_changes_next(NULL, &has, &kind, &seq, &id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, NULL, &kind, &seq, &id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, NULL, &seq, &id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, NULL, &id, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, NULL, &data, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, NULL, &len), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, &len), WAL_OK);
    CHECK(has && kind == WAL_CHANGE_STORE && len == 5 && memcmp(data, "seven", 5) == 0);
    wal_changes_free(c);
    wal_changes_free(NULL);

    /* Range deletes, alone and in a mixed batch, through the cursor. */
    CHECK_STATUS(wal_delete_range_seq(w, 2, 5, &seq), WAL_OK);
    CHECK(seq == 7);
    const wal_write_op mixed[] = {op_store(9, (const uint8_t *)"nine", 4), op_delete(1), op_delete(7) /* gone */,
                                  op_range(10, UINT64_MAX)};
    CHECK_STATUS(wal_write_batch_seq(w, mixed, 4, &seq), WAL_OK);
    CHECK(seq == 13); /* begin 8, operations 9..12, commit 13 */
    const wal_write_op lone = op_range(0, 0);
    CHECK_STATUS(wal_write_batch_seq(w, &lone, 1, &seq), WAL_OK);
    CHECK(seq == 14); /* one record, unframed */
    EXPECT_NOT_FOUND(w, 1);
    EXPECT_NOT_FOUND(w, 2);
    EXPECT_PAYLOAD(w, 9, (const uint8_t *)"nine", 4);
    n = read_changes(w, 7, all, 16);
    CHECK(n == 8);
    const struct change want2[] = {
        {WAL_CHANGE_DELETE_RANGE, 7, 2, 8, 5},
        {WAL_CHANGE_BATCH_BEGIN, 8, 4, 0, 0},
        {WAL_CHANGE_STORE, 9, 9, 4, 0},
        {WAL_CHANGE_DELETE, 10, 1, 0, 0},
        {WAL_CHANGE_DELETE, 11, 7, 0, 0},
        {WAL_CHANGE_DELETE_RANGE, 12, 10, 8, UINT64_MAX},
        {WAL_CHANGE_BATCH_COMMIT, 13, 4, 0, 0},
        {WAL_CHANGE_DELETE_RANGE, 14, 0, 8, 0},
    };
    for (size_t i = 0; i < n; i++) {
        CHECK(all[i].kind == want2[i].kind && all[i].seq == want2[i].seq);
        CHECK(all[i].id == want2[i].id && all[i].len == want2[i].len && all[i].hi == want2[i].hi);
    }
    CHECK(read_changes(w, 0, all, 16) == 14);
    /* From inside the batch, and after everything. */
    CHECK(read_changes(w, 10, all, 16) == 5 && all[0].kind == WAL_CHANGE_DELETE && all[0].seq == 10);
    CHECK(read_changes(w, 15, all, 16) == 0);
    /* The payload of a range delete, byte for byte. */
    CHECK_STATUS(wal_changes_open(w, 12, &c), WAL_OK);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, &len), WAL_OK);
    CHECK(has && kind == WAL_CHANGE_DELETE_RANGE && seq == 12 && id == 10 && len == 8);
    CHECK(memcmp(data, "\xff\xff\xff\xff\xff\xff\xff\xff", 8) == 0);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, &len), WAL_OK);
    CHECK(has && kind == WAL_CHANGE_BATCH_COMMIT && seq == 13 && id == 4 && len == 0);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, &len), WAL_OK);
    CHECK(has && kind == WAL_CHANGE_DELETE_RANGE && seq == 14 && id == 0 && len == 8);
    CHECK(memcmp(data, "\0\0\0\0\0\0\0\0", 8) == 0);
    CHECK_STATUS(wal_changes_next(c, &has, &kind, &seq, &id, &data, &len), WAL_OK);
    CHECK(!has);
    wal_changes_free(c);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

static void test_threads(void)
{
    section("threads: 8 threads share one FLUSH handle; 4 threads share an FSYNC handle (group commit)");

    const char *dir = new_dir();
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FLUSH), WAL_OK);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    wal_options_free(o);
    STORE_VERSION(w, SHARED_ID, 1, 99);

    /* Give this thread a known last error; the workers' failures (their
     * expected WAL_NOT_FOUNDs) must not change it. */
    uint8_t tiny[1];
    size_t out_len = LEN_SENTINEL;
    CHECK_STATUS(wal_retrieve(w, 424242, tiny, sizeof tiny, &out_len), WAL_NOT_FOUND);
    char mine[1024];
    copy_last_error(mine, sizeof mine);
    CHECK(strncmp(mine, "wal_retrieve: ", 14) == 0);

    pthread_t th[NTHREADS];
    struct worker k[NTHREADS];
    for (int t = 0; t < NTHREADS; t++) {
        k[t].w = w;
        k[t].t = t;
        k[t].records = 0;
        CHECK(pthread_create(&th[t], NULL, worker_main, &k[t]) == 0);
    }
    uint64_t records = 1; /* SHARED_ID */
    for (int t = 0; t < NTHREADS; t++) {
        CHECK(pthread_join(th[t], NULL) == 0);
        records += k[t].records;
    }
    CHECK(strcmp(wal_last_error(), mine) == 0);
    for (int t = 0; t < NTHREADS; t++) {
        verify_worker(w, t);
    }
    CHECK_STATUS(wal_close(w), WAL_OK);

    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == records);
    EXPECT_VERSION(w, SHARED_ID, 1, 99);
    for (int t = 0; t < NTHREADS; t++) {
        verify_worker(w, t);
    }
    CHECK_STATUS(wal_close(w), WAL_OK);
    printf("   FLUSH: %d threads, %llu records, all verified after reopen\n", NTHREADS,
           (unsigned long long)records);

    /* Concurrent FSYNC writers. */
    const char *dir2 = new_dir();
    w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    pthread_t fth[4];
    struct fsync_worker fk[4];
    for (int t = 0; t < 4; t++) {
        fk[t].w = w;
        fk[t].t = t;
        CHECK(pthread_create(&fth[t], NULL, fsync_worker_main, &fk[t]) == 0);
    }
    for (int t = 0; t < 4; t++) {
        CHECK(pthread_join(fth[t], NULL) == 0);
    }
    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir2, NULL, &w), WAL_OK);
    CHECK(records_replayed(w) == 100);
    for (int t = 0; t < 4; t++) {
        for (uint64_t i = 0; i < 25; i++) {
            EXPECT_VERSION(w, (uint64_t)t * 1000 + i, 1, 64);
        }
    }
    CHECK_STATUS(wal_close(w), WAL_OK);
    printf("   FSYNC: 4 threads, 100 records, all verified after reopen\n");
}

/* ------------------------------------------------------------------------ */
/* 13. Compaction                                                           */
/* ------------------------------------------------------------------------ */

/* "<dir>/wal-<generation as 16 hex digits>.log" */
static void gen_log_path(const char *dir, uint64_t generation, char *buf, size_t cap)
{
    int n = snprintf(buf, cap, "%s/wal-%016" PRIx64 ".log", dir, generation);
    CHECK(n > 0 && (size_t)n < cap);
}

typedef wal_status (*u64_getter)(const wal_t *, uint64_t *);

static uint64_t get_u64(const char *file, int line, u64_getter f, const wal_t *w)
{
    uint64_t v = U64_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, &v), WAL_OK);
    CHECK_AT(file, line, v != U64_SENTINEL);
    return v;
}
#define GET_U64(f, w) get_u64(__FILE__, __LINE__, (f), (w))

/* Polls `f` every 5 ms until it reaches `at_least`, for at most 30 s;
 * returns the last value read. */
static uint64_t wait_u64(const char *file, int line, u64_getter f, const wal_t *w, uint64_t at_least)
{
    uint64_t v = get_u64(file, line, f, w);
    for (int i = 0; i < 6000 && v < at_least; i++) {
        struct timespec ms = {0, 5000000};
        nanosleep(&ms, NULL);
        v = get_u64(file, line, f, w);
    }
    CHECK_AT(file, line, v >= at_least);
    return v;
}
#define WAIT_U64(f, w, at_least) wait_u64(__FILE__, __LINE__, (f), (w), (at_least))

typedef wal_status (*message_getter)(const wal_t *, uint8_t *, size_t, size_t *);

/* The getter has no message: WAL_NOT_FOUND, with its outputs untouched,
 * for a size query and for a real buffer. */
static void expect_no_message(const char *file, int line, message_getter f, const char *name, const wal_t *w)
{
    size_t len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, NULL, 0, &len), WAL_NOT_FOUND);
    CHECK_AT(file, line, len == LEN_SENTINEL);
    check_error_names(file, line, name);
    uint8_t buf[64];
    memset(buf, 'Z', sizeof buf);
    CHECK_STATUS_AT(file, line, f(w, buf, sizeof buf, &len), WAL_NOT_FOUND);
    CHECK_AT(file, line, len == LEN_SENTINEL && buf[0] == 'Z' && buf[63] == 'Z');
}
#define EXPECT_NO_MESSAGE(f, w) expect_no_message(__FILE__, __LINE__, (f), #f, (w))

/* The getter's message is exactly `want`: a size query and a buffer one
 * byte short say WAL_BUFFER_TOO_SMALL with the length (NUL excluded) and
 * leave the buffer alone; an exact and a larger buffer get the message
 * and its NUL. */
static void expect_message(const char *file, int line, message_getter f, const char *name, const wal_t *w,
                           const char *want)
{
    size_t n = strlen(want);
    char err[256];
    size_t len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, NULL, 0, &len), WAL_BUFFER_TOO_SMALL);
    CHECK_AT(file, line, len == n);
    snprintf(err, sizeof err, "%s: buffer too small for the message: it needs %zu bytes, the buffer holds 0", name,
             n + 1);
    CHECK_AT(file, line, strcmp(wal_last_error(), err) == 0);

    uint8_t *buf = malloc(n + 16);
    CHECK_AT(file, line, buf != NULL);
    memset(buf, 'Z', n + 16);
    len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, buf, n, &len), WAL_BUFFER_TOO_SMALL);
    CHECK_AT(file, line, len == n);
    snprintf(err, sizeof err, "%s: buffer too small for the message: it needs %zu bytes, the buffer holds %zu",
             name, n + 1, n);
    CHECK_AT(file, line, strcmp(wal_last_error(), err) == 0);
    for (size_t i = 0; i < n + 16; i++) {
        CHECK_AT(file, line, buf[i] == 'Z');
    }

    len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, buf, n + 1, &len), WAL_OK);
    CHECK_AT(file, line, len == n && memcmp(buf, want, n) == 0 && buf[n] == '\0');
    CHECK_AT(file, line, buf[n + 1] == 'Z');

    memset(buf, 'Z', n + 16);
    len = LEN_SENTINEL;
    CHECK_STATUS_AT(file, line, f(w, buf, n + 16, &len), WAL_OK);
    CHECK_AT(file, line, len == n && strcmp((const char *)buf, want) == 0 && buf[n + 1] == 'Z');
    free(buf);
}
#define EXPECT_MESSAGE(f, w, want) expect_message(__FILE__, __LINE__, (f), #f, (w), (want))

/* The message getters refuse NULL arguments, whatever there is to report. */
static void check_message_getter_arguments(message_getter f, const char *name, const wal_t *w)
{
    uint8_t buf[8];
    size_t len = LEN_SENTINEL;
    CHECK_STATUS(f(NULL, buf, sizeof buf, &len), WAL_INVALID_ARGUMENT);
    CHECK_ERR(name);
    CHECK_ERR_HAS("w is NULL");
    CHECK_STATUS(f(w, buf, sizeof buf, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR(name);
    CHECK_ERR_HAS("out_len is NULL");
    CHECK_STATUS(f(w, NULL, 5, &len), WAL_INVALID_ARGUMENT);
    CHECK_ERR(name);
    CHECK_ERR_HAS("buf is NULL but cap is 5");
    CHECK(len == LEN_SENTINEL);
}

/* Ids 1..8 hold version 2 of 100 bytes, ids 11 and 12 version 1 of 50;
 * 9, 10 and 13 are gone (13 has yet to be written). */
static void expect_compaction_layout(const char *file, int line, wal_t *w)
{
    for (uint64_t id = 1; id <= 8; id++) {
        expect_version(file, line, w, id, 2, 100);
    }
    expect_not_found(file, line, w, 9);
    expect_not_found(file, line, w, 10);
    expect_version(file, line, w, 11, 1, 50);
    expect_version(file, line, w, 12, 1, 50);
    expect_not_found(file, line, w, 0);
}
#define EXPECT_COMPACTION_LAYOUT(w) expect_compaction_layout(__FILE__, __LINE__, (w))

/* A cursor's remaining entries are those of expect_compaction_layout. */
static void expect_iter_layout(wal_iter_t *it)
{
    const uint64_t ids[] = {1, 2, 3, 4, 5, 6, 7, 8, 11, 12};
    for (size_t i = 0; i < sizeof ids / sizeof ids[0]; i++) {
        bool has = false;
        uint64_t id = U64_SENTINEL;
        const uint8_t *data = NULL;
        size_t len = 0;
        CHECK_STATUS(wal_iter_next(it, &has, &id, &data, &len), WAL_OK);
        CHECK(has && id == ids[i]);
        uint8_t want[100];
        size_t wlen = id <= 8 ? 100 : 50;
        fill(want, wlen, id, id <= 8 ? 2 : 1);
        CHECK(len == wlen && memcmp(data, want, wlen) == 0);
    }
    bool has = true;
    uint64_t id = 0;
    const uint8_t *data = NULL;
    size_t len = 0;
    CHECK_STATUS(wal_iter_next(it, &has, &id, &data, &len), WAL_OK);
    CHECK(!has);
}

static void expect_compacted_refusal(const char *file, int line, wal_t *w, const char *dir, uint64_t generation,
                                     uint64_t from, uint64_t first)
{
    wal_changes_t *c = (wal_changes_t *)(void *)&g_sentinel_obj;
    CHECK_STATUS_AT(file, line, wal_changes_open(w, from, &c), WAL_COMPACTED);
    CHECK_AT(file, line, c == (wal_changes_t *)(void *)&g_sentinel_obj);
    char want[512];
    int n = snprintf(want, sizeof want,
                     "wal_changes_open: sequence number %" PRIu64 " was folded away by a compaction of "
                     "%s/wal-%016" PRIx64 ".log: its change stream starts at %" PRIu64
                     "; copy the store with a cursor and follow changes from the cursor's sequence number + 1",
                     from, dir, generation, first);
    CHECK_AT(file, line, n > 0 && (size_t)n < sizeof want);
    CHECK_AT(file, line, strcmp(wal_last_error(), want) == 0);
}
#define EXPECT_COMPACTED(w, dir, generation, from, first)                                                     \
    expect_compacted_refusal(__FILE__, __LINE__, (w), (dir), (generation), (from), (first))

static void test_compaction(void)
{
    section("compaction: space reclaimed, generations, folded sequence numbers, cursors across it, read-only");

    CHECK(strcmp(wal_status_str(WAL_COMPACTED), "sequence number folded away by compaction") == 0);
    CHECK(WAL_COMPACTED == 11);

    const char *dir = new_dir();
    char lp1[128], lp2[128], lp3[128];
    gen_log_path(dir, 1, lp1, sizeof lp1);
    gen_log_path(dir, 2, lp2, sizeof lp2);
    gen_log_path(dir, 3, lp3, sizeof lp3);
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 1);
    CHECK(GET_U64(wal_stat_auto_compactions, w) == 0);
    CHECK(GET_U64(wal_stat_auto_compaction_failures, w) == 0);

    /* A fresh store: compaction rewrites the empty log as generation 2. */
    const char *empty = new_dir();
    wal_t *e = NULL;
    CHECK_STATUS(wal_open(empty, NULL, &e), WAL_OK);
    CHECK_STATUS(wal_compact(e), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, e) == 2 && GET_U64(wal_stat_log_bytes, e) == 64);
    uint64_t seq = U64_SENTINEL;
    CHECK_STATUS(wal_store_seq(e, 1, (const uint8_t *)"x", 1, &seq), WAL_OK);
    CHECK(seq == 1);
    CHECK_STATUS(wal_close(e), WAL_OK);

    /* The layout: ids 1..10 written twice (100 bytes; seq 1..20), 9 and 10
     * deleted (seq 21, 22), then a batch of ids 11 and 12 (50 bytes; begin
     * 23, entries 24 and 25, commit 26). */
    for (unsigned version = 1; version <= 2; version++) {
        for (uint64_t id = 1; id <= 10; id++) {
            STORE_VERSION(w, id, version, 100);
        }
    }
    CHECK_STATUS(wal_delete(w, 9), WAL_OK);
    CHECK_STATUS(wal_delete(w, 10), WAL_OK);
    uint8_t p11[50], p12[50];
    fill(p11, 50, 11, 1);
    fill(p12, 50, 12, 1);
    wal_entry batch[] = {{11, p11, 50}, {12, p12, 50}};
    CHECK_STATUS(wal_store_batch_seq(w, batch, 2, &seq), WAL_OK);
    CHECK(seq == 26);
    /* header + 20 stores of 32 + 100 + 2 tombstones of 32 + begin 32 + 2
     * entries of 32 + 50 + commit 32 */
    const uint64_t before = 64 + 20 * 132 + 2 * 32 + 32 + 2 * 82 + 32;
    const uint64_t live_records = 8 * 132 + 2 * 82;
    CHECK(before == 2996);
    CHECK(GET_U64(wal_stat_log_bytes, w) == before);
    CHECK(GET_U64(wal_stat_dead_bytes, w) == before - 64 - live_records);
    CHECK(GET_U64(wal_stat_live_ids, w) == 10 && GET_U64(wal_stat_live_bytes, w) == 900);

    /* A change cursor and an entry cursor opened before the compaction. */
    wal_changes_t *pending = NULL;
    CHECK_STATUS(wal_changes_open(w, 21, &pending), WAL_OK);
    wal_iter_t *old_it = NULL;
    CHECK_STATUS(wal_iter_open(w, &old_it), WAL_OK);
    uint64_t it_seq = U64_SENTINEL;
    CHECK_STATUS(wal_iter_seq(old_it, &it_seq), WAL_OK);
    CHECK(it_seq == 26);

    CHECK_STATUS(wal_compact(w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 2);
    CHECK(GET_U64(wal_stat_log_bytes, w) == 64 + live_records);
    CHECK(GET_U64(wal_stat_log_bytes, w) == 1284);
    CHECK(log_position(w) == 1284);
    CHECK(GET_U64(wal_stat_dead_bytes, w) == 0);
    double ratio = -1;
    CHECK_STATUS(wal_stat_dead_ratio(w, &ratio), WAL_OK);
    CHECK(ratio == 0.0);
    CHECK(GET_U64(wal_stat_live_ids, w) == 10 && GET_U64(wal_stat_live_bytes, w) == 900);
    uint64_t snap = U64_SENTINEL;
    CHECK_STATUS(wal_snapshot_position(w, &snap), WAL_OK);
    CHECK(snap == 64);
    /* A manual compaction is not an automatic one. */
    CHECK(GET_U64(wal_stat_auto_compactions, w) == 0);
    /* Generation 1 is gone; generation 2 holds one store record per live
     * id, in the old log's order, with its sequence number. */
    CHECK(!exists(lp1) && exists(lp2));
    CHECK(file_size(lp2) == 1284);
    struct rec recs[16];
    CHECK(read_records(lp2, 64, recs, 16) == 10);
    for (size_t i = 0; i < 10; i++) {
        uint64_t want_id = i < 8 ? i + 1 : i + 3;
        uint64_t want_seq = i < 8 ? i + 11 : i + 16;
        CHECK(recs[i].type == 1 && recs[i].id == want_id && recs[i].seq == want_seq);
        CHECK(recs[i].len == (i < 8 ? 100u : 50u));
    }
    EXPECT_COMPACTION_LAYOUT(w);

    /* Both cursors read on, from before the compaction. */
    expect_iter_layout(old_it);
    wal_iter_free(old_it);
    const struct change want_pending[] = {
        {WAL_CHANGE_DELETE, 21, 9, 0, 0},      {WAL_CHANGE_DELETE, 22, 10, 0, 0},
        {WAL_CHANGE_BATCH_BEGIN, 23, 2, 0, 0}, {WAL_CHANGE_STORE, 24, 11, 50, 0},
        {WAL_CHANGE_STORE, 25, 12, 50, 0},     {WAL_CHANGE_BATCH_COMMIT, 26, 2, 0, 0},
    };
    for (size_t i = 0; i < 7; i++) {
        bool has = false;
        struct change ch = {0, 0, 0, 0, 0};
        const uint8_t *data = NULL;
        CHECK_STATUS(wal_changes_next(pending, &has, &ch.kind, &ch.seq, &ch.id, &data, &ch.len), WAL_OK);
        if (i == 6) {
            CHECK(!has);
            break;
        }
        CHECK(has && ch.kind == want_pending[i].kind && ch.seq == want_pending[i].seq);
        CHECK(ch.id == want_pending[i].id && ch.len == want_pending[i].len);
        if (ch.kind == WAL_CHANGE_STORE) {
            CHECK(memcmp(data, ch.id == 11 ? p11 : p12, 50) == 0);
        }
    }
    wal_changes_free(pending);

    /* Change cursors cannot start at or below the fold (26). */
    EXPECT_COMPACTED(w, dir, 2, 26, 27);
    EXPECT_COMPACTED(w, dir, 2, 0, 27);
    EXPECT_COMPACTED(w, dir, 2, 1, 27);
    struct change got[8];
    CHECK(read_changes(w, 27, got, 8) == 0);

    /* A replica copies the entries, then follows from the cursor's
     * sequence number + 1. */
    wal_iter_t *it = NULL;
    CHECK_STATUS(wal_iter_open(w, &it), WAL_OK);
    it_seq = U64_SENTINEL;
    CHECK_STATUS(wal_iter_seq(it, &it_seq), WAL_OK);
    CHECK(it_seq == 26);
    expect_iter_layout(it);
    CHECK_STATUS(wal_iter_seq(NULL, &it_seq), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_iter_seq");
    CHECK_ERR_HAS("it is NULL");
    CHECK_STATUS(wal_iter_seq(it, NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_iter_seq");
    CHECK_ERR_HAS("seq is NULL");
    CHECK(it_seq == 26);
    wal_iter_free(it);
    CHECK_STATUS(wal_store_seq(w, 13, (const uint8_t *)"thirteen", 8, &seq), WAL_OK);
    CHECK(seq == 27); /* numbering goes on after the fold */
    CHECK(read_changes(w, it_seq + 1, got, 8) == 1);
    CHECK(got[0].kind == WAL_CHANGE_STORE && got[0].seq == 27 && got[0].id == 13 && got[0].len == 8);
    CHECK(GET_U64(wal_stat_log_bytes, w) == 1284 + 40);
    EXPECT_PAYLOAD(w, 13, (const uint8_t *)"thirteen", 8);

    /* NULL handles and outputs; no automatic compaction has failed. */
    CHECK_STATUS(wal_compact(NULL), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_compact");
    uint64_t v = U64_SENTINEL;
    CHECK_STATUS(wal_stat_generation(NULL, &v), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_stat_generation");
    CHECK_STATUS(wal_stat_generation(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_auto_compactions(NULL, &v), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_stat_auto_compactions");
    CHECK_STATUS(wal_stat_auto_compactions(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_stat_auto_compaction_failures(NULL, &v), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_stat_auto_compaction_failures");
    CHECK_STATUS(wal_stat_auto_compaction_failures(w, NULL), WAL_INVALID_ARGUMENT);
    CHECK(v == U64_SENTINEL);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_compaction_error, w);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_snapshot_error, w);
    CHECK_ERR_HAS("no such failure since the open");
    check_message_getter_arguments(wal_stat_last_auto_compaction_error, "wal_stat_last_auto_compaction_error", w);
    check_message_getter_arguments(wal_stat_last_auto_snapshot_error, "wal_stat_last_auto_snapshot_error", w);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* After reopening: the same generation, reads and fold. */
    w = NULL;
    CHECK_STATUS(wal_open(dir, NULL, &w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 2);
    CHECK(records_replayed(w) == 11);
    CHECK(GET_U64(wal_stat_log_bytes, w) == 1324);
    EXPECT_COMPACTION_LAYOUT(w);
    EXPECT_PAYLOAD(w, 13, (const uint8_t *)"thirteen", 8);
    EXPECT_COMPACTED(w, dir, 2, 26, 27);
    CHECK(read_changes(w, 27, got, 8) == 1 && got[0].seq == 27);
    /* Nothing dead: a second compaction keeps every byte, in generation 3. */
    CHECK_STATUS(wal_compact(w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 3 && GET_U64(wal_stat_log_bytes, w) == 1324);
    CHECK(!exists(lp2) && exists(lp3) && file_size(lp3) == 1324);
    EXPECT_COMPACTED(w, dir, 3, 27, 28);
    CHECK(read_changes(w, 28, got, 8) == 0);
    EXPECT_COMPACTION_LAYOUT(w);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* A read-only handle reports and refuses. */
    w = NULL;
    CHECK_STATUS(open_with(dir, WAL_DURABILITY_FSYNC, WAL_RECOVERY_STRICT, true, &w), WAL_OK);
    CHECK_STATUS(wal_compact(w), WAL_INVALID_ARGUMENT);
    char want[512];
    snprintf(want, sizeof want,
             "wal_compact: invalid argument: compact refused: the store in %s was opened read-only", dir);
    CHECK(strcmp(wal_last_error(), want) == 0);
    CHECK(GET_U64(wal_stat_generation, w) == 3 && GET_U64(wal_stat_log_bytes, w) == 1324);
    CHECK(GET_U64(wal_stat_auto_compactions, w) == 0 && GET_U64(wal_stat_auto_compaction_failures, w) == 0);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_compaction_error, w);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_snapshot_error, w);
    EXPECT_COMPACTION_LAYOUT(w);
    CHECK(exists(lp3) && file_size(lp3) == 1324);
    CHECK_STATUS(wal_close(w), WAL_OK);
}

/* Writes `rounds` versions (1..rounds) of ids 0..199, 1000 bytes each. */
static void overwrite_rounds(wal_t *w, unsigned rounds)
{
    uint8_t p[1000];
    for (unsigned version = 1; version <= rounds; version++) {
        for (uint64_t id = 0; id < 200; id++) {
            fill(p, sizeof p, id, version);
            CHECK_STATUS(wal_store(w, id, p, sizeof p), WAL_OK);
        }
    }
}

static void expect_rounds(wal_t *w, unsigned rounds)
{
    for (uint64_t id = 0; id < 200; id++) {
        EXPECT_VERSION(w, id, rounds, 1000);
    }
    EXPECT_NOT_FOUND(w, 200);
}

static void test_auto_compaction(void)
{
    section("automatic compaction: the option, past the dead ratio, off, failures and their messages");

    /* The option: a ratio in [0, 1), anything else refused. */
    CHECK_STATUS(wal_options_set_auto_compact(NULL, 0.5, 0), WAL_INVALID_ARGUMENT);
    CHECK_ERR("wal_options_set_auto_compact");
    CHECK_ERR_HAS("opts is NULL");
    wal_options *o = wal_options_new();
    CHECK(o != NULL);
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.0, 0), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.999999, UINT64_MAX), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.000001, 1), WAL_OK);
    const struct {
        double ratio;
        const char *shown;
    } refused[] = {{-0.5, "-0.5"}, {-1e-9, "-0.000000001"}, {1.0, "1"},       {1.5, "1.5"},
                   {NAN, "NaN"},   {INFINITY, "inf"},          {-INFINITY, "-inf"}};
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        CHECK_STATUS(wal_options_set_auto_compact(o, refused[i].ratio, 1), WAL_INVALID_ARGUMENT);
        char want[512];
        snprintf(want, sizeof want,
                 "wal_options_set_auto_compact: invalid argument: dead-byte ratio %s for automatic compaction is "
                 "outside [0, 1)",
                 refused[i].shown);
        CHECK(strcmp(wal_last_error(), want) == 0);
    }
    CHECK_STATUS(wal_options_set_auto_compact(o, 1e-9, 1), WAL_INVALID_ARGUMENT);
    CHECK(strcmp(wal_last_error(), "wal_options_set_auto_compact: invalid argument: dead-byte ratio 0.000000001 "
                                   "for automatic compaction is below one millionth") == 0);

    /* On: 0.5 past 256 KiB (the refusals above left it as set here). The
     * ratio is looked at once per MiB of log growth, so six rounds of 200
     * KB (1.24 MB, 83% dead) start one compaction in the background. */
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.5, 256 << 10), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_compact(o, 1.0, 0), WAL_INVALID_ARGUMENT);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FLUSH), WAL_OK);
    const char *dir = new_dir();
    wal_t *w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    overwrite_rounds(w, 6);
    uint64_t autos = WAIT_U64(wal_stat_auto_compactions, w, 1);
    CHECK(GET_U64(wal_stat_auto_compaction_failures, w) == 0);
    CHECK(GET_U64(wal_stat_generation, w) == 1 + autos);
    CHECK(GET_U64(wal_stat_log_bytes, w) < (uint64_t)1 << 20);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_compaction_error, w);
    expect_rounds(w, 6);
    CHECK_STATUS(wal_close(w), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir, o, &w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 1 + autos);
    CHECK(GET_U64(wal_stat_auto_compactions, w) == 0); /* counted since the open */
    CHECK(GET_U64(wal_stat_live_ids, w) == 200);
    expect_rounds(w, 6);
    CHECK_STATUS(wal_close(w), WAL_OK);
    printf("   %" PRIu64 " automatic compaction(s) while 1.24 MB were written\n", autos);

    /* Off (ratio 0): the same writes keep every byte. */
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.0, 0), WAL_OK);
    CHECK_STATUS(wal_options_set_auto_compact(o, NAN, 0), WAL_INVALID_ARGUMENT);
    const char *dir2 = new_dir();
    w = NULL;
    CHECK_STATUS(wal_open(dir2, o, &w), WAL_OK);
    overwrite_rounds(w, 6);
    CHECK(GET_U64(wal_stat_log_bytes, w) == 64 + 6 * 200 * 1032);
    CHECK(GET_U64(wal_stat_generation, w) == 1 && GET_U64(wal_stat_auto_compactions, w) == 0);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* Failures. A directory where a compaction's temporary log goes (or a
     * snapshot's temporary file) makes it fail, even for root: unlinking a
     * directory gives EISDIR. The failure is counted and its message kept;
     * the writes that started it succeed. */
    const char *dir3 = new_dir();
    char blocker[256];
    snprintf(blocker, sizeof blocker, "%s/wal-0000000000000002.log.tmp", dir3);
    char cause[384];
    snprintf(cause, sizeof cause, "remove %s: %s (os error %d)", blocker, strerror(EISDIR), EISDIR);
    CHECK_STATUS(wal_options_set_auto_compact(o, 0.5, 256 << 10), WAL_OK);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 0), WAL_OK); /* no snapshots here */
    w = NULL;
    CHECK_STATUS(wal_open(dir3, o, &w), WAL_OK);
    CHECK(mkdir(blocker, 0755) == 0);
    STORE_VERSION(w, 0, 1, 10);
    CHECK_STATUS(wal_compact(w), WAL_IO);
    char want[512];
    snprintf(want, sizeof want, "wal_compact: %s", cause);
    CHECK(strcmp(wal_last_error(), want) == 0);
    CHECK(GET_U64(wal_stat_generation, w) == 1);
    CHECK(GET_U64(wal_stat_auto_compaction_failures, w) == 0); /* a manual one is not counted */
    EXPECT_NO_MESSAGE(wal_stat_last_auto_compaction_error, w);
    overwrite_rounds(w, 6);
    WAIT_U64(wal_stat_auto_compaction_failures, w, 1);
    CHECK(GET_U64(wal_stat_auto_compactions, w) == 0 && GET_U64(wal_stat_generation, w) == 1);
    EXPECT_MESSAGE(wal_stat_last_auto_compaction_error, w, cause);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_snapshot_error, w);
    check_message_getter_arguments(wal_stat_last_auto_compaction_error, "wal_stat_last_auto_compaction_error", w);
    expect_rounds(w, 6);
    /* Once the directory is gone, compaction works; the message stays. */
    CHECK(rmdir(blocker) == 0);
    CHECK_STATUS(wal_compact(w), WAL_OK);
    CHECK(GET_U64(wal_stat_generation, w) == 2 && GET_U64(wal_stat_log_bytes, w) == 64 + 200 * 1032);
    EXPECT_MESSAGE(wal_stat_last_auto_compaction_error, w, cause);
    expect_rounds(w, 6);
    CHECK_STATUS(wal_close(w), WAL_OK);

    /* An automatic snapshot: threshold 100, so the first 68-byte store
     * (ending at 64 + 100 = 0xa4) starts one, for that position. */
    const char *dir4 = new_dir();
    snprintf(blocker, sizeof blocker, "%s/snapshot-0000000000000001-00000000000000a4.snap.tmp", dir4);
    snprintf(cause, sizeof cause, "remove %s: %s (os error %d)", blocker, strerror(EISDIR), EISDIR);
    CHECK_STATUS(wal_options_set_snapshot_threshold(o, 100), WAL_OK);
    CHECK_STATUS(wal_options_set_durability(o, WAL_DURABILITY_FSYNC), WAL_OK);
    w = NULL;
    CHECK_STATUS(wal_open(dir4, o, &w), WAL_OK);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_snapshot_error, w);
    CHECK(mkdir(blocker, 0755) == 0);
    STORE_VERSION(w, 1, 1, 68);
    CHECK(log_position(w) == 0xa4);
    WAIT_U64(wal_stat_auto_snapshot_failures, w, 1);
    CHECK(GET_U64(wal_stat_auto_snapshots, w) == 0);
    EXPECT_MESSAGE(wal_stat_last_auto_snapshot_error, w, cause);
    EXPECT_NO_MESSAGE(wal_stat_last_auto_compaction_error, w);
    check_message_getter_arguments(wal_stat_last_auto_snapshot_error, "wal_stat_last_auto_snapshot_error", w);
    EXPECT_VERSION(w, 1, 1, 68);
    CHECK(rmdir(blocker) == 0);
    CHECK_STATUS(wal_close(w), WAL_OK);
    wal_options_free(o);
}

/* ------------------------------------------------------------------------ */
/* 14. Statuses C cannot provoke                                            */
/* ------------------------------------------------------------------------ */

static void test_unreachable_statuses(void)
{
    section("statuses not reachable from C without fault injection");
    const wal_status s[] = {WAL_NO_SPACE, WAL_POISONED, WAL_PANIC};
    for (size_t i = 0; i < sizeof s / sizeof s[0]; i++) {
        const char *str = wal_status_str(s[i]);
        CHECK(str != NULL && str[0] != '\0' && strcmp(str, "unknown status") != 0);
        printf("   %s (%d, \"%s\"): not reached here; covered by the Rust tests "
               "(tests/faults.rs, src/ffi/boundary.rs)\n",
               status_name(s[i]), (int)s[i], str);
    }
}

/* ------------------------------------------------------------------------ */

int main(void)
{
    /* Before anything has failed the message is "", never NULL. */
    const char *e = wal_last_error();
    CHECK(e != NULL && e[0] == '\0');

    test_version_and_strings();
    test_options();
    test_open_arguments();
    test_basics();
    test_batches_and_limit();
    test_write_batches();
    test_report_and_snapshot();
    test_durability();
    test_read_only_and_locking();
    test_corruption_closed();
    test_corruption_while_open();
    test_torn_tail();
    test_incompatible();
    test_io_error();
    test_changes();
    test_threads();
    test_compaction();
    test_auto_compaction();
    test_unreachable_statuses();

    /* Every status C can reach was asserted at least once. */
    const wal_status reachable[] = {WAL_OK,         WAL_NOT_FOUND, WAL_INVALID_ARGUMENT, WAL_BUFFER_TOO_SMALL, WAL_IO,
                                    WAL_CORRUPTION, WAL_LOCKED,    WAL_INCOMPATIBLE,     WAL_COMPACTED};
    unsigned reached = atomic_load(&g_reached);
    for (size_t i = 0; i < sizeof reachable / sizeof reachable[0]; i++) {
        CHECK((reached & (1u << reachable[i])) != 0);
    }

    int removed = remove_all_dirs();
    printf("== cleanup: removed %d temp directories\n", removed);
    printf("test_walstore: all %lu checks passed\n", (unsigned long)atomic_load(&g_checks));
    return 0;
}

/*
 * crash_harness.c: kills a walstore writer with SIGKILL at random moments
 * and checks, after every kill, that the store kept exactly what it
 * acknowledged. Uses only the public C API (include/walstore.h).
 *
 *   crash_harness <path to crash_writer>
 *
 * Environment: CRASH_CYCLES (default 300), CRASH_SEED (default: from the
 * clock; always printed), CRASH_MAX_DELAY_US (default 30000), CRASH_THREADS
 * (default 4), CRASH_SNAPSHOTS (default 1: writers also call wal_snapshot
 * now and then), CRASH_SNAPSHOT_THRESHOLD (default 262144: the writers'
 * automatic snapshots run every 256 KiB of log growth, in the background,
 * so kills land inside them; 0 turns them off), CRASH_DIR (default: a fresh
 * /tmp/walstore-crash-XXXXXX; removed when every check passed, kept with
 * the failing cycle's pipe transcript when one failed).
 *
 * One cycle:
 *  1. fork+exec crash_writer on the store (FSYNC, STRICT); it reports every
 *     call over a pipe ("begin" before, "ack" after WAL_OK; crash_common.h).
 *  2. SIGKILL it 0..CRASH_MAX_DELAY_US after it reported the store open; in
 *     one cycle out of ten instead at a random moment since the fork, which
 *     may fall inside exec, replay or the writer's own tail cut.
 *  3. Open the store read-only, then writable (both STRICT: must be WAL_OK),
 *     and read every id the writers may have touched, through both handles
 *     (they must agree, torn-tail report included; a cut tail must be in its
 *     side file and the log must end where the tail began). One check in
 *     four (one in two when the read-only open found a torn tail) is
 *     read-only only: a torn tail then stays for the next writer's own open
 *     to cut just before it appends, and that open must report exactly the
 *     tail the read-only open saw.
 *  4. Check every id against the model:
 *       - an id owned by one writer thread must hold the last acknowledged
 *         write (store, batch entry or delete) of it, or the value of that
 *         thread's operation in flight at the kill, if it touched the id;
 *       - a batch in flight is applied whole or not at all;
 *       - a hot id (written by all threads at once) must hold a write that
 *         no acknowledged write followed (ack before begin in pipe order),
 *         or its previous value if no write of it was acknowledged;
 *       - no id holds bytes that were never stored for it;
 *       - wal_delete of an owned id returned WAL_NOT_FOUND exactly when the
 *         model says the id was absent;
 *       - a cursor (wal_iter_*) over the whole store returns exactly the
 *         ids and bytes read, in id order, and nothing else, and
 *         wal_stat_live_ids / wal_stat_live_bytes agree.
 *  5. The observed state becomes the model; the next cycle writes on.
 *
 * Exit status 0 when every check passed; 1 with a report naming the seed,
 * the cycle and the ids otherwise.
 */
#define _GNU_SOURCE

#include "crash_common.h"
#include "walstore.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <inttypes.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_CAND 1024
#define MAX_U (CRASH_MAX_THREADS * CRASH_OWNED_PER_THREAD + CRASH_NHOT)

typedef struct {
    bool present;
    uint64_t ver;
    uint32_t len;
} val_t;

typedef struct {
    int u; /* universe index of the id */
    uint64_t ver;
    uint32_t len;
} ent_t;

typedef struct {
    uint64_t opid;
    int t;
    char kind;
    int n;
    ent_t e[CRASH_BATCH_MAX];
    long bseq, aseq; /* line numbers of begin and ack in pipe order */
    bool acked, nf;
} op_t;

typedef struct {
    uint64_t ver;
    uint32_t len;
    uint64_t cycle;
    bool acked;
} hist_t;

/* The ids: owned ids of each thread, then the hot ids. */
static int g_nthreads = 4;
static int g_U;
static uint64_t g_id[MAX_U];
static int g_owner[MAX_U]; /* thread, or -1 for a hot id */
static val_t g_model[MAX_U];
static hist_t *g_hist[MAX_U];
static size_t g_nhist[MAX_U], g_caphist[MAX_U];

static uint64_t g_seed;
static uint64_t g_threshold; /* the writers' automatic snapshot threshold */
static uint64_t g_generation; /* the highest log generation an open found */
static uint64_t g_last_snap_pos = 64;
/* The torn tail a read-only-only check left for the next writer to cut. */
static uint64_t g_pending_tail_off, g_pending_tail_bytes;
static char g_dir[512];
static bool g_failed;
static uint64_t g_cycle;

/* Totals. */
static unsigned long long g_ops_begun, g_ops_acked, g_ops_inflight, g_snapshots_acked, g_torn_cut,
    g_torn_bytes, g_early_kills, g_open_kills, g_ids_checked, g_lost, g_garbage, g_half_batches,
    g_batches_inflight, g_batches_applied, g_batches_absent, g_inflight_applied, g_inflight_absent,
    g_protocol_errors, g_snap_used, g_snap_advanced, g_iter_entries, g_ro_only_cycles,
    g_tails_left, g_tails_cut_by_writer, g_nf_checked, g_us_start, g_us_write, g_us_check, g_ready_cycles;

static uint8_t g_scratch[CRASH_MAX_PAYLOAD];

static uint64_t now_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

static void die(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash: FATAL (cycle %" PRIu64 ", seed %" PRIu64 "): ", g_cycle, g_seed);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n  store kept in %s\n  rerun: CRASH_SEED=%" PRIu64 " make crash\n", g_dir, g_seed);
    exit(1);
}

static void failure(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    fprintf(stderr, "crash: FAIL (cycle %" PRIu64 ", seed %" PRIu64 "): ", g_cycle, g_seed);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n");
    g_failed = true;
}

static const char *status_name(wal_status s)
{
    static const char *const names[] = {
        "WAL_OK",         "WAL_NOT_FOUND",    "WAL_INVALID_ARGUMENT", "WAL_BUFFER_TOO_SMALL",
        "WAL_IO",         "WAL_NO_SPACE",     "WAL_CORRUPTION",       "WAL_LOCKED",
        "WAL_INCOMPATIBLE", "WAL_POISONED",   "WAL_PANIC",
    };
    return (s >= 0 && s <= 10) ? names[s] : "(unknown status)";
}

static void check_call(wal_status got, wal_status want, const char *what)
{
    if (got != want) {
        char err[1024];
        snprintf(err, sizeof err, "%s", wal_last_error());
        die("%s returned %s (%d), expected %s: %s", what, status_name(got), (int)got, status_name(want), err);
    }
}

static int find_u(uint64_t id)
{
    for (int u = 0; u < g_U; u++) {
        if (g_id[u] == id) {
            return u;
        }
    }
    return -1;
}

static void hist_add(int u, uint64_t ver, uint32_t len)
{
    if (g_nhist[u] == g_caphist[u]) {
        g_caphist[u] = g_caphist[u] ? 2 * g_caphist[u] : 64;
        g_hist[u] = realloc(g_hist[u], g_caphist[u] * sizeof(hist_t));
        if (g_hist[u] == NULL) {
            die("out of memory");
        }
    }
    g_hist[u][g_nhist[u]++] = (hist_t){ver, len, g_cycle, false};
}

static void hist_mark_acked(int u, uint64_t ver)
{
    for (size_t i = g_nhist[u]; i-- > 0;) {
        if (g_hist[u][i].ver == ver) {
            g_hist[u][i].acked = true;
            return;
        }
    }
}

/* ------------------------------------------------------------------------ */
/* What a handle holds                                                      */
/* ------------------------------------------------------------------------ */

typedef struct {
    bool present;
    size_t len;
    uint64_t fp;
    uint8_t *data; /* walstore's buffer (wal_buf_free) or NULL */
} obs_t;

static void read_id(wal_t *w, uint64_t id, obs_t *o, bool use_alloc)
{
    memset(o, 0, sizeof *o);
    if (use_alloc) {
        uint8_t *p = NULL;
        size_t len = 0;
        wal_status s = wal_retrieve_alloc(w, id, &p, &len);
        if (s == WAL_NOT_FOUND) {
            return;
        }
        char what[96];
        snprintf(what, sizeof what, "wal_retrieve_alloc(id %" PRIu64 ")", id);
        check_call(s, WAL_OK, what);
        o->present = true;
        o->len = len;
        o->data = p;
        o->fp = crash_fingerprint(p, len);
        return;
    }
    /* Size query, then a read into a buffer of exactly that size. */
    size_t len = 0;
    wal_status s = wal_retrieve(w, id, NULL, 0, &len);
    if (s == WAL_NOT_FOUND) {
        return;
    }
    char what[96];
    snprintf(what, sizeof what, "wal_retrieve(id %" PRIu64 ", size query)", id);
    if (s != WAL_OK) {
        check_call(s, WAL_BUFFER_TOO_SMALL, what);
    }
    uint8_t *p = malloc(len ? len : 1);
    if (p == NULL) {
        die("out of memory");
    }
    size_t got = 0;
    s = wal_retrieve(w, id, p, len, &got);
    snprintf(what, sizeof what, "wal_retrieve(id %" PRIu64 ")", id);
    check_call(s, WAL_OK, what);
    if (got != len) {
        die("wal_retrieve(id %" PRIu64 ") returned %zu bytes after a size query said %zu", id, got, len);
    }
    o->present = true;
    o->len = len;
    o->fp = crash_fingerprint(p, len);
    o->data = p; /* ours: freed with free(), see free_obs */
}

static bool matches(int u, val_t v, const obs_t *o)
{
    if (!v.present) {
        return !o->present;
    }
    if (!o->present || o->len != v.len) {
        return false;
    }
    crash_payload_fill(g_id[u], v.ver, g_scratch, v.len);
    return memcmp(g_scratch, o->data, v.len) == 0;
}

static void describe_val(char *buf, size_t cap, val_t v)
{
    if (!v.present) {
        snprintf(buf, cap, "absent");
    } else {
        snprintf(buf, cap, "version %" PRIu64 ".%" PRIu64 " (%u bytes)", v.ver >> 32, v.ver & 0xFFFFFFFFu,
                 v.len);
    }
}

/* What the observed payload is, among everything ever written to id u. */
static void describe_obs(char *buf, size_t cap, int u, const obs_t *o)
{
    if (!o->present) {
        snprintf(buf, cap, "absent (WAL_NOT_FOUND)");
        return;
    }
    for (size_t i = g_nhist[u]; i-- > 0;) {
        val_t v = {true, g_hist[u][i].ver, g_hist[u][i].len};
        if (matches(u, v, o)) {
            snprintf(buf, cap,
                     "%zu bytes = version %" PRIu64 ".%" PRIu64 " (written in cycle %" PRIu64 ", %s)", o->len,
                     v.ver >> 32, v.ver & 0xFFFFFFFFu, g_hist[u][i].cycle,
                     g_hist[u][i].acked ? "acknowledged" : "never acknowledged");
            return;
        }
    }
    snprintf(buf, cap, "%zu bytes (fingerprint %016" PRIx64 ") that were NEVER STORED for this id", o->len, o->fp);
}

/* ------------------------------------------------------------------------ */
/* One cycle                                                                */
/* ------------------------------------------------------------------------ */

typedef struct {
    char *buf;
    size_t len, cap;
} text_t;

static void text_append(text_t *t, const char *p, size_t n)
{
    if (t->len + n + 1 > t->cap) {
        t->cap = (t->len + n + 1) * 2;
        t->buf = realloc(t->buf, t->cap);
        if (t->buf == NULL) {
            die("out of memory");
        }
    }
    memcpy(t->buf + t->len, p, n);
    t->len += n;
    t->buf[t->len] = '\0';
}

static op_t *g_ops;
static size_t g_nops, g_capops;

static op_t *new_op(void)
{
    if (g_nops == g_capops) {
        g_capops = g_capops ? 2 * g_capops : 1024;
        g_ops = realloc(g_ops, g_capops * sizeof(op_t));
        if (g_ops == NULL) {
            die("out of memory");
        }
    }
    op_t *o = &g_ops[g_nops++];
    memset(o, 0, sizeof *o);
    return o;
}

static void save_transcript(const text_t *tr)
{
    char path[700];
    snprintf(path, sizeof path, "%s/crash-transcript-cycle-%" PRIu64 ".txt", g_dir, g_cycle);
    FILE *f = fopen(path, "w");
    if (f != NULL) {
        fwrite(tr->buf, 1, tr->len, f);
        fclose(f);
        fprintf(stderr, "  the writer's pipe transcript of this cycle: %s\n", path);
    }
}

/* Starts the writer, kills it, returns its pipe transcript. */
static void run_writer(const char *writer, uint64_t *rng, int max_delay_us, int snapshots, text_t *tr,
                       uint64_t *last_ready_us, bool *saw_ready)
{
    int p[2];
    if (pipe2(p, O_CLOEXEC) != 0) {
        die("pipe2: %s", strerror(errno));
    }
    char a_fd[16], a_seed[32], a_cycle[32], a_thr[16], a_snap[8], a_thresh[32];
    snprintf(a_fd, sizeof a_fd, "%d", 3);
    snprintf(a_seed, sizeof a_seed, "%" PRIu64, g_seed);
    snprintf(a_cycle, sizeof a_cycle, "%" PRIu64, g_cycle);
    snprintf(a_thr, sizeof a_thr, "%d", g_nthreads);
    snprintf(a_snap, sizeof a_snap, "%d", snapshots);
    snprintf(a_thresh, sizeof a_thresh, "%" PRIu64, g_threshold);
    char *args[] = {(char *)writer, g_dir, a_fd, a_seed, a_cycle, a_thr, a_snap, a_thresh, NULL};

    /* Drawn every cycle, in this order, so a seed gives the same schedule. */
    const bool early = g_cycle > 1 && crash_next(rng) % 10 == 0;
    const uint64_t d = crash_next(rng);
    const uint64_t delay = early ? d % (*last_ready_us + 1) : d % ((uint64_t)max_delay_us + 1);

    fflush(NULL);
    const uint64_t t0 = now_us();
    pid_t pid = fork();
    if (pid < 0) {
        die("fork: %s", strerror(errno));
    }
    if (pid == 0) {
        /* Async-signal-safe calls only until exec. */
        if (p[1] == 3) {
            fcntl(3, F_SETFD, 0);
        } else if (dup2(p[1], 3) < 0) {
            _exit(126);
        }
        execv(writer, args);
        _exit(127);
    }
    close(p[1]);

    uint64_t deadline = early ? t0 + delay : 0;
    bool killed = false;
    *saw_ready = false;
    char chunk[65536];
    for (;;) {
        uint64_t now = now_us();
        if (!killed && deadline != 0 && now >= deadline) {
            kill(pid, SIGKILL);
            killed = true;
            if (*saw_ready) {
                g_us_write += now - (t0 + *last_ready_us);
            }
            continue;
        }
        if (!killed && !*saw_ready && now - t0 > 30u * 1000000u) {
            kill(pid, SIGKILL);
            die("the writer did not report the store open within 30 s");
        }
        struct pollfd pfd = {p[0], POLLIN, 0};
        struct timespec ts, *tsp = NULL;
        if (!killed) {
            uint64_t wait = deadline != 0 ? deadline - now : 100000;
            ts.tv_sec = (time_t)(wait / 1000000u);
            ts.tv_nsec = (long)(wait % 1000000u) * 1000;
            tsp = &ts;
        }
        int r = ppoll(&pfd, 1, tsp, NULL);
        if (r < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("ppoll: %s", strerror(errno));
        }
        if (r == 0) {
            continue;
        }
        ssize_t n = read(p[0], chunk, sizeof chunk);
        if (n < 0) {
            if (errno == EINTR) {
                continue;
            }
            die("read from the writer's pipe: %s", strerror(errno));
        }
        if (n == 0) {
            break; /* EOF: the writer is dead */
        }
        text_append(tr, chunk, (size_t)n);
        if (!*saw_ready && tr->len >= 2 && tr->buf[0] == 'R' && memchr(tr->buf, '\n', tr->len) != NULL) {
            *saw_ready = true;
            uint64_t t = now_us();
            *last_ready_us = t - t0;
            g_us_start += t - t0;
            g_ready_cycles++;
            if (deadline == 0) {
                deadline = t + delay;
            }
        }
    }
    close(p[0]);
    int st = 0;
    if (waitpid(pid, &st, 0) != pid) {
        die("waitpid: %s", strerror(errno));
    }
    if (!killed || !WIFSIGNALED(st) || WTERMSIG(st) != SIGKILL) {
        const char *f = NULL;
        if (tr->len > 0) {
            f = tr->buf[0] == 'F' ? tr->buf : strstr(tr->buf, "\nF ");
            f = (f != NULL && f[0] == '\n') ? f + 1 : f;
        }
        fprintf(stderr, "%s", f ? f : "");
        save_transcript(tr);
        die("the writer ended on its own (%s %d) before the kill%s", WIFSIGNALED(st) ? "signal" : "exit status",
            WIFSIGNALED(st) ? WTERMSIG(st) : WEXITSTATUS(st), f ? ": see the F line above" : "");
    }
    if (early) {
        g_early_kills++;
        if (!*saw_ready) {
            g_open_kills++;
        }
    }
}

/* Parses the transcript into g_ops, checking the protocol. */
static void parse_transcript(const text_t *tr, int inflight[CRASH_MAX_THREADS])
{
    g_nops = 0;
    for (int t = 0; t < g_nthreads; t++) {
        inflight[t] = -1;
    }
    long seq = 0;
    char *save = NULL;
    char *copy = malloc(tr->len + 1);
    if (copy == NULL) {
        die("out of memory");
    }
    if (tr->len > 0) {
        memcpy(copy, tr->buf, tr->len);
    }
    copy[tr->len] = '\0';
    if (tr->len > 0 && copy[tr->len - 1] != '\n') {
        failure("the pipe transcript ends in a partial line");
        g_protocol_errors++;
    }
    for (char *line = strtok_r(copy, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save), seq++) {
        if (line[0] == 'R') {
            long pid = 0;
            uint64_t open_us = 0, toff = 0, tbytes = 0;
            if (seq != 0 ||
                sscanf(line, "R %ld %" SCNu64 " %" SCNu64 " %" SCNu64, &pid, &open_us, &toff, &tbytes) != 4) {
                failure("protocol: bad or misplaced R line %ld: '%s'", seq, line);
                g_protocol_errors++;
            }
            /* What the writer's own open cut must be exactly the tail the
             * last check left (nothing, unless it was read-only). */
            if (toff != g_pending_tail_off || tbytes != g_pending_tail_bytes) {
                failure("the writer's open reported a torn tail of %" PRIu64 " bytes at %" PRIu64
                        "; the read-only check before it saw %" PRIu64 " bytes at %" PRIu64,
                        tbytes, toff, g_pending_tail_bytes, g_pending_tail_off);
            } else if (tbytes > 0) {
                g_tails_cut_by_writer++;
            }
            continue;
        }
        if (line[0] == 'A') {
            uint64_t opid = 0;
            char res[8] = "";
            if (sscanf(line, "A %" SCNu64 " %7s", &opid, res) != 2) {
                die("protocol: bad line '%s'", line);
            }
            int found = -1;
            for (int t = 0; t < g_nthreads; t++) {
                if (inflight[t] >= 0 && g_ops[inflight[t]].opid == opid) {
                    found = t;
                }
            }
            if (found < 0) {
                die("protocol: ack of op %" PRIu64 " that is not in flight", opid);
            }
            op_t *o = &g_ops[inflight[found]];
            o->acked = true;
            o->aseq = seq;
            o->nf = strcmp(res, "nf") == 0;
            inflight[found] = -1;
            continue;
        }
        if (line[0] != 'B') {
            die("protocol: unexpected line '%s'", line);
        }
        op_t *o = new_op();
        int pos = 0;
        if (sscanf(line, "B %" SCNu64 " %d %c %d%n", &o->opid, &o->t, &o->kind, &o->n, &pos) != 4 || o->t < 0 ||
            o->t >= g_nthreads || o->n < 0 || o->n > CRASH_BATCH_MAX) {
            die("protocol: bad line '%s'", line);
        }
        o->bseq = seq;
        if (inflight[o->t] >= 0) {
            die("protocol: thread %d began op %" PRIu64 " before op %" PRIu64 " was acknowledged", o->t, o->opid,
                g_ops[inflight[o->t]].opid);
        }
        inflight[o->t] = (int)(o - g_ops);
        char *p = line + pos;
        for (int i = 0; i < o->n; i++) {
            uint64_t id, ver, fp;
            size_t len;
            int used = 0;
            if (sscanf(p, " %" SCNu64 ":%" SCNu64 ":%zu:%" SCNx64 "%n", &id, &ver, &len, &fp, &used) != 4) {
                die("protocol: bad entry in '%s'", line);
            }
            p += used;
            int u = find_u(id);
            if (u < 0) {
                die("protocol: id %" PRIu64 " is outside the id set", id);
            }
            bool hot = g_owner[u] < 0;
            bool want_hot = o->kind == 'H' || o->kind == 'X';
            if (hot != want_hot || (!hot && g_owner[u] != o->t)) {
                die("protocol: thread %d op %c touched id %" PRIu64 " it does not own", o->t, o->kind, id);
            }
            o->e[i] = (ent_t){u, ver, (uint32_t)len};
            if (o->kind == 'S' || o->kind == 'T' || o->kind == 'H') {
                /* The parent regenerates the exact bytes from (id, version). */
                if (len != crash_payload_len(id, ver)) {
                    die("payload generator mismatch: id %" PRIu64 " version %" PRIu64 " len %zu", id, ver, len);
                }
                crash_payload_fill(id, ver, g_scratch, len);
                if (crash_fingerprint(g_scratch, len) != fp) {
                    die("payload generator mismatch: id %" PRIu64 " version %" PRIu64 " fingerprint", id, ver);
                }
                hist_add(u, ver, (uint32_t)len);
            }
        }
        g_ops_begun++;
    }
    free(copy);
}

/* The value an op leaves for id u (the last entry for u wins). */
static bool op_value_for(const op_t *o, int u, val_t *out)
{
    bool hit = false;
    for (int i = 0; i < o->n; i++) {
        if (o->e[i].u == u) {
            hit = true;
            if (o->kind == 'D' || o->kind == 'X') {
                *out = (val_t){false, 0, 0};
            } else {
                *out = (val_t){true, o->e[i].ver, o->e[i].len};
            }
        }
    }
    return hit;
}

static wal_t *open_store(bool read_only)
{
    wal_options *opts = wal_options_new();
    if (opts == NULL) {
        die("wal_options_new returned NULL");
    }
    check_call(wal_options_set_recovery_mode(opts, WAL_RECOVERY_STRICT), WAL_OK, "wal_options_set_recovery_mode");
    check_call(wal_options_set_durability(opts, WAL_DURABILITY_FSYNC), WAL_OK, "wal_options_set_durability");
    check_call(wal_options_set_read_only(opts, read_only), WAL_OK, "wal_options_set_read_only");
    wal_t *w = NULL;
    wal_status s = wal_open(g_dir, opts, &w);
    wal_options_free(opts);
    check_call(s, WAL_OK,
               read_only ? "wal_open (read-only, STRICT) after the kill" : "wal_open (STRICT) after the kill");
    return w;
}

static void free_obs(obs_t *o, bool alloc)
{
    if (o->data != NULL) {
        if (alloc) {
            wal_buf_free(o->data);
        } else {
            free(o->data);
        }
    }
    o->data = NULL;
}

static void check_cycle(const text_t *tr, uint64_t ro_draw)
{
    int inflight[CRASH_MAX_THREADS];
    parse_transcript(tr, inflight);

    /* cur: the model with every acknowledged op of this cycle applied.
     * Owned ids are written by one thread only, so this order is exact. */
    val_t cur[MAX_U];
    memcpy(cur, g_model, sizeof cur);
    bool acked_write[MAX_U];
    memset(acked_write, 0, sizeof acked_write);
    unsigned long long acked = 0;
    for (size_t i = 0; i < g_nops; i++) {
        const op_t *o = &g_ops[i];
        if (!o->acked) {
            continue;
        }
        acked++;
        for (int k = 0; k < o->n; k++) {
            if (o->kind != 'D' && o->kind != 'X') {
                hist_mark_acked(o->e[k].u, o->e[k].ver);
            }
        }
        if (o->kind == 'P') {
            g_snapshots_acked++;
            continue;
        }
        if (o->kind == 'H' || o->kind == 'X') {
            if (!o->nf) {
                acked_write[o->e[0].u] = true;
            }
            continue;
        }
        if (o->kind == 'D') {
            int u = o->e[0].u;
            g_nf_checked++;
            if (o->nf == cur[u].present) {
                char want[96];
                describe_val(want, sizeof want, cur[u]);
                failure("wal_delete(id %" PRIu64 ") returned %s, but the id was %s (every earlier write of it "
                        "was acknowledged)",
                        g_id[u], o->nf ? "WAL_NOT_FOUND" : "WAL_OK", want);
            }
            cur[u] = (val_t){false, 0, 0};
            acked_write[u] = true;
            continue;
        }
        for (int k = 0; k < o->n; k++) {
            cur[o->e[k].u] = (val_t){true, o->e[k].ver, o->e[k].len};
            acked_write[o->e[k].u] = true;
        }
    }
    g_ops_acked += acked;
    for (int t = 0; t < g_nthreads; t++) {
        g_ops_inflight += inflight[t] >= 0;
    }

    /* Read-only open first: it must see what the writable open sees. In a
     * read-only cycle, nothing else opens the store: a torn tail stays for
     * the next writer's own open to cut, right before it appends. */
    obs_t ro[MAX_U], obs[MAX_U];
    uint64_t ro_off = 0, ro_bytes = 0;
    wal_t *w = open_store(true);
    wal_status ro_tail = wal_open_torn_tail(w, &ro_off, &ro_bytes);
    if (ro_tail != WAL_OK && ro_tail != WAL_NOT_FOUND) {
        check_call(ro_tail, WAL_NOT_FOUND, "wal_open_torn_tail (read-only)");
    }
    for (int u = 0; u < g_U; u++) {
        read_id(w, g_id[u], &ro[u], true);
    }
    /* Read-only only: half the checks that found a torn tail, a quarter of
     * the others. */
    const bool ro_only = ro_draw % (ro_tail == WAL_OK ? 2 : 4) == 0;
    if (!ro_only) {
        check_call(wal_close(w), WAL_OK, "wal_close (read-only)");
        w = open_store(false);
    }
    const bool alloc = g_cycle % 2 == 0; /* alternate the two read calls */
    for (int u = 0; u < g_U; u++) {
        read_id(w, g_id[u], &obs[u], alloc);
    }
    /* Ids nobody writes stay absent. */
    const uint64_t never[] = {0, 5000, 9000, 9001 + CRASH_NHOT, UINT64_MAX};
    for (size_t i = 0; i < sizeof never / sizeof never[0]; i++) {
        size_t len = 0;
        wal_status s = wal_retrieve(w, never[i], NULL, 0, &len);
        if (s != WAL_NOT_FOUND) {
            failure("id %" PRIu64 ", never written, reads back as %s", never[i], status_name(s));
        }
    }

    uint64_t off = 0, bytes = 0, pos = 0, snap = 0;
    wal_status tail = wal_open_torn_tail(w, &off, &bytes);
    check_call(wal_log_position(w, &pos), WAL_OK, "wal_log_position");
    uint64_t gen = 0;
    check_call(wal_stat_generation(w, &gen), WAL_OK, "wal_stat_generation");
    if (gen > g_generation) {
        g_generation = gen;
    }
    if (wal_open_snapshot_used(w, &snap) == WAL_OK) {
        g_snap_used++;
        if (snap > g_last_snap_pos) {
            g_snap_advanced++;
        }
        g_last_snap_pos = snap;
    }
    if (tail != ro_tail || (tail == WAL_OK && (off != ro_off || bytes != ro_bytes))) {
        failure("torn tail reports differ: read-only open %s (offset %" PRIu64 ", %" PRIu64
                " bytes), writable open %s (offset %" PRIu64 ", %" PRIu64 " bytes)",
                status_name(ro_tail), ro_off, ro_bytes, status_name(tail), off, bytes);
    }
    g_pending_tail_off = g_pending_tail_bytes = 0;
    if (ro_only) {
        g_ro_only_cycles++;
        if (ro_tail == WAL_OK) {
            /* The next writer's open must find and cut exactly this. */
            g_tails_left++;
            g_pending_tail_off = ro_off;
            g_pending_tail_bytes = ro_bytes;
        }
    } else if (tail == WAL_OK) {
        g_torn_cut++;
        g_torn_bytes += bytes;
        const char *side = NULL;
        check_call(wal_open_torn_tail_path(w, &side), WAL_OK, "wal_open_torn_tail_path");
        struct stat sb;
        if (stat(side, &sb) != 0 || (uint64_t)sb.st_size != bytes) {
            failure("the cut tail's side file %s is missing or not %" PRIu64 " bytes long", side, bytes);
        }
        if (pos != off) {
            failure("after cutting a tail at %" PRIu64 " the log position is %" PRIu64, off, pos);
        }
    }

    /* A cursor over the whole store sees exactly the ids read above, with
     * the same bytes, and nothing else; the stats agree. */
    {
        bool seen[MAX_U];
        memset(seen, 0, sizeof seen);
        uint64_t live = 0, live_bytes = 0, n_iter = 0, st_ids = 0, st_bytes = 0;
        for (int u = 0; u < g_U; u++) {
            live += obs[u].present;
            live_bytes += obs[u].present ? obs[u].len : 0;
        }
        wal_iter_t *it = NULL;
        check_call(wal_iter_open(w, &it), WAL_OK, "wal_iter_open");
        uint64_t prev = 0;
        for (;;) {
            bool has = false;
            uint64_t id = 0;
            const uint8_t *data = NULL;
            size_t len = 0;
            check_call(wal_iter_next(it, &has, &id, &data, &len), WAL_OK, "wal_iter_next");
            if (!has) {
                break;
            }
            if (n_iter > 0 && id <= prev) {
                failure("wal_iter_next: id %" PRIu64 " after id %" PRIu64 " (not in id order)", id, prev);
            }
            prev = id;
            n_iter++;
            int u = find_u(id);
            if (u < 0) {
                failure("wal_iter_next: id %" PRIu64 " is in the store, but no writer ever wrote it", id);
                continue;
            }
            seen[u] = true;
            if (!obs[u].present || obs[u].len != len || (len > 0 && memcmp(obs[u].data, data, len) != 0)) {
                failure("wal_iter_next: id %" PRIu64 " has %zu bytes that differ from what wal_retrieve read (%s, "
                        "%zu bytes)",
                        id, len, obs[u].present ? "present" : "absent", obs[u].len);
            }
        }
        wal_iter_free(it);
        for (int u = 0; u < g_U; u++) {
            if (obs[u].present && !seen[u]) {
                failure("wal_iter_next never returned id %" PRIu64 ", which wal_retrieve reads", g_id[u]);
            }
        }
        check_call(wal_stat_live_ids(w, &st_ids), WAL_OK, "wal_stat_live_ids");
        check_call(wal_stat_live_bytes(w, &st_bytes), WAL_OK, "wal_stat_live_bytes");
        if (n_iter != live || st_ids != live || st_bytes != live_bytes) {
            failure("live ids: %" PRIu64 " read, %" PRIu64 " iterated, wal_stat_live_ids %" PRIu64
                    "; live bytes: %" PRIu64 " read, wal_stat_live_bytes %" PRIu64,
                    live, n_iter, st_ids, live_bytes, st_bytes);
        }
        g_iter_entries += n_iter;
    }

    for (int u = 0; u < g_U; u++) {
        if (ro[u].present != obs[u].present || ro[u].len != obs[u].len || ro[u].fp != obs[u].fp) {
            failure("id %" PRIu64 ": the read-only open reads %s %zu bytes (fp %016" PRIx64
                    "), the %s %s %zu bytes (fp %016" PRIx64 ")",
                    g_id[u], ro[u].present ? "present" : "absent", ro[u].len, ro[u].fp,
                    ro_only ? "second read through it" : "writable open", obs[u].present ? "present" : "absent",
                    obs[u].len, obs[u].fp);
        }
        free_obs(&ro[u], true);
    }

    /* The checks. */
    val_t next[MAX_U];
    for (int u = 0; u < g_U; u++) {
        val_t cand[MAX_CAND];
        int nc = 0;
        const int t = g_owner[u];
        if (t >= 0) {
            cand[nc++] = cur[u];
            val_t v;
            if (inflight[t] >= 0 && op_value_for(&g_ops[inflight[t]], u, &v)) {
                cand[nc++] = v;
            }
        } else {
            /* Writes of hot id u this cycle: acknowledged ones (not a no-op
             * delete) and those in flight. W is superseded when an
             * acknowledged W' began after W's ack. */
            bool any_acked = false;
            for (size_t i = 0; i < g_nops; i++) {
                const op_t *o = &g_ops[i];
                if ((o->kind == 'H' || o->kind == 'X') && o->e[0].u == u && o->acked && !o->nf) {
                    any_acked = true;
                }
            }
            if (!any_acked) {
                cand[nc++] = g_model[u];
            }
            for (size_t i = 0; i < g_nops; i++) {
                const op_t *o = &g_ops[i];
                if ((o->kind != 'H' && o->kind != 'X') || o->e[0].u != u || (o->acked && o->nf)) {
                    continue;
                }
                bool superseded = false;
                for (size_t j = 0; o->acked && j < g_nops && !superseded; j++) {
                    const op_t *q = &g_ops[j];
                    superseded = (q->kind == 'H' || q->kind == 'X') && q->e[0].u == u && q->acked && !q->nf &&
                                 q->bseq > o->aseq;
                }
                if (!superseded) {
                    if (nc == MAX_CAND) {
                        die("more than %d candidate values for hot id %" PRIu64, MAX_CAND, g_id[u]);
                    }
                    op_value_for(o, u, &cand[nc++]);
                }
            }
        }
        int hit = -1;
        for (int c = 0; c < nc && hit < 0; c++) {
            if (matches(u, cand[c], &obs[u])) {
                hit = c;
            }
        }
        g_ids_checked++;
        if (hit >= 0) {
            next[u] = cand[hit];
            continue;
        }
        char got[256], want[512] = "", one[96];
        describe_obs(got, sizeof got, u, &obs[u]);
        for (int c = 0; c < nc; c++) {
            describe_val(one, sizeof one, cand[c]);
            size_t l = strlen(want);
            snprintf(want + l, sizeof want - l, "%s%s", c ? " or " : "", one);
        }
        const bool garbage = strstr(got, "NEVER STORED") != NULL;
        /* An earlier entry of the in-flight batch for an id the batch names
         * twice: the batch was applied in part. */
        bool partial = false;
        if (!garbage && t >= 0 && inflight[t] >= 0 && g_ops[inflight[t]].kind == 'T') {
            const op_t *o = &g_ops[inflight[t]];
            for (int k = 0; k < o->n; k++) {
                val_t v = {true, o->e[k].ver, o->e[k].len};
                partial |= o->e[k].u == u && matches(u, v, &obs[u]);
            }
        }
        const char *kind = "ACKNOWLEDGED WRITE LOST";
        if (garbage) {
            g_garbage++;
            kind = "BYTES NEVER STORED";
        } else if (partial) {
            g_half_batches++;
            kind = "HALF-APPLIED BATCH (an earlier entry for an id the batch names twice)";
        } else {
            g_lost++;
        }
        failure("%s: id %" PRIu64 " (%s%d) holds %s; allowed: %s%s", kind, g_id[u],
                t >= 0 ? "owned by thread " : "hot id ", t >= 0 ? t : u - g_nthreads * CRASH_OWNED_PER_THREAD, got,
                want,
                t >= 0 && !acked_write[u] ? " (the allowed state is from earlier cycles: no acknowledged write of "
                                            "the id this cycle)"
                                          : "");
        next[u] = (val_t){obs[u].present, 0, (uint32_t)obs[u].len};
    }

    /* A batch in flight is applied whole or not at all; and statistics on
     * what became of the in-flight operations. */
    for (int t = 0; t < g_nthreads; t++) {
        if (inflight[t] < 0) {
            continue;
        }
        const op_t *o = &g_ops[inflight[t]];
        if (o->kind == 'P' || o->kind == 'H' || o->kind == 'X') {
            continue;
        }
        int only_new = 0, only_old = 0;
        uint64_t id_new = 0, id_old = 0;
        for (int k = 0; k < o->n; k++) {
            int u = o->e[k].u;
            val_t v;
            op_value_for(o, u, &v);
            bool mn = matches(u, v, &obs[u]), mo = matches(u, cur[u], &obs[u]);
            if (mn && !mo) {
                only_new++;
                id_new = g_id[u];
            } else if (mo && !mn) {
                only_old++;
                id_old = g_id[u];
            }
        }
        if (o->kind == 'T') {
            g_batches_inflight++;
            if (only_new && only_old) {
                g_half_batches++;
                failure("HALF-APPLIED BATCH: op %" PRIu64 " (thread %d, %d entries) in flight at the kill: id %" PRIu64
                        " holds the batch's value, id %" PRIu64 " still the value before it",
                        o->opid, t, o->n, id_new, id_old);
            }
        }
        if (only_new && !only_old) {
            g_inflight_applied++;
            g_batches_applied += o->kind == 'T';
        } else if (only_old && !only_new) {
            g_inflight_absent++;
            g_batches_absent += o->kind == 'T';
        }
    }

    for (int u = 0; u < g_U; u++) {
        free_obs(&obs[u], alloc);
    }
    check_call(wal_close(w), WAL_OK, ro_only ? "wal_close (read-only)" : "wal_close");
    memcpy(g_model, next, sizeof next);
    if (g_failed) {
        save_transcript(tr);
    }
}

/* ------------------------------------------------------------------------ */

static int rm_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

static long env_long(const char *name, long def, long lo, long hi)
{
    const char *s = getenv(name);
    if (s == NULL || *s == '\0') {
        return def;
    }
    char *end = NULL;
    long v = strtol(s, &end, 10);
    if (*end != '\0' || v < lo || v > hi) {
        fprintf(stderr, "crash: %s=%s is not a number in %ld..%ld\n", name, s, lo, hi);
        exit(2);
    }
    return v;
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s <path to crash_writer>\n", argv[0]);
        return 2;
    }
    const char *writer = argv[1];
    if (access(writer, X_OK) != 0) {
        fprintf(stderr, "crash: %s is not executable\n", writer);
        return 2;
    }
    const long cycles = env_long("CRASH_CYCLES", 300, 1, 100000000);
    const long max_delay = env_long("CRASH_MAX_DELAY_US", 30000, 0, 10000000);
    const int snapshots = (int)env_long("CRASH_SNAPSHOTS", 1, 0, 1);
    g_threshold = (uint64_t)env_long("CRASH_SNAPSHOT_THRESHOLD", 256 * 1024, 0, 1L << 40);
    g_nthreads = (int)env_long("CRASH_THREADS", 4, 1, CRASH_MAX_THREADS);
    const char *seed_s = getenv("CRASH_SEED");
    if (seed_s != NULL && *seed_s != '\0') {
        char *end = NULL;
        g_seed = strtoull(seed_s, &end, 10);
        if (*end != '\0') {
            fprintf(stderr, "crash: CRASH_SEED=%s is not a number\n", seed_s);
            return 2;
        }
    } else {
        struct timespec ts;
        clock_gettime(CLOCK_REALTIME, &ts);
        g_seed = ((uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec) ^ ((uint64_t)getpid() << 32);
    }
    const char *dir_s = getenv("CRASH_DIR");
    if (dir_s != NULL && *dir_s != '\0') {
        snprintf(g_dir, sizeof g_dir, "%s", dir_s);
        if (mkdir(g_dir, 0700) != 0) {
            fprintf(stderr, "crash: cannot create CRASH_DIR %s: %s (it must not exist)\n", g_dir, strerror(errno));
            return 2;
        }
    } else {
        snprintf(g_dir, sizeof g_dir, "/tmp/walstore-crash-XXXXXX");
        if (mkdtemp(g_dir) == NULL) {
            perror("mkdtemp");
            return 2;
        }
    }
    /* The id set. */
    g_U = 0;
    for (int k = 0; k < CRASH_OWNED_PER_THREAD; k++) {
        for (int t = 0; t < g_nthreads; t++) {
            g_id[g_U] = crash_owned_id(g_nthreads, t, k);
            g_owner[g_U++] = t;
        }
    }
    for (int h = 0; h < CRASH_NHOT; h++) {
        g_id[g_U] = crash_hot_id(h);
        g_owner[g_U++] = -1;
    }
    for (int u = 0; u < g_U; u++) {
        g_model[u] = (val_t){false, 0, 0};
    }

    printf("== crash: seed %" PRIu64 " (rerun with CRASH_SEED=%" PRIu64 "), %ld cycles, %d writer threads, "
           "kill 0..%ld us after open (1 cycle in 10: any time since fork), wal_snapshot calls %s, automatic "
           "snapshots every %" PRIu64 " bytes (0: off), store %s\n",
           g_seed, g_seed, cycles, g_nthreads, max_delay, snapshots ? "on" : "off", g_threshold, g_dir);
    fflush(stdout);

    uint64_t rng = crash_mix64(g_seed);
    uint64_t last_ready_us = 5000;
    const uint64_t start = now_us();
    text_t tr = {NULL, 0, 0};
    for (g_cycle = 1; g_cycle <= (uint64_t)cycles; g_cycle++) {
        tr.len = 0;
        if (tr.buf != NULL) {
            tr.buf[0] = '\0';
        }
        bool ready = false;
        run_writer(writer, &rng, (int)max_delay, snapshots, &tr, &last_ready_us, &ready);
        const uint64_t ro_draw = crash_next(&rng);
        const uint64_t c0 = now_us();
        check_cycle(&tr, ro_draw);
        g_us_check += now_us() - c0;
        if (g_failed) {
            break;
        }
        if (g_cycle % 25 == 0 || g_cycle == (uint64_t)cycles) {
            printf("   cycle %" PRIu64 ": %llu ops acknowledged, %llu in flight at kills, %llu torn tails cut, "
                   "%.1f s\n",
                   g_cycle, g_ops_acked, g_ops_inflight, g_torn_cut, (double)(now_us() - start) / 1e6);
            fflush(stdout);
        }
    }
    const double secs = (double)(now_us() - start) / 1e6;
    free(tr.buf);

    char logp[600];
    /* The last check's open found the current generation. */
    snprintf(logp, sizeof logp, "%s/wal-%016" PRIx64 ".log", g_dir, g_generation ? g_generation : 1);
    struct stat sb;
    long long log_size = stat(logp, &sb) == 0 ? (long long)sb.st_size : -1;

    printf("== crash: seed %" PRIu64 ": %" PRIu64 " kill cycles in %.1f s (%llu killed at a random moment since "
           "fork, %llu of them before the store was open)\n",
           g_seed, g_failed ? g_cycle : g_cycle - 1, secs, g_early_kills, g_open_kills);
    printf("   operations begun %llu, acknowledged %llu (%llu snapshots), in flight at the kill %llu "
           "(applied %llu, not applied %llu; the rest are hot-id ops, snapshots, deletes of absent ids or "
           "undecidable)\n",
           g_ops_begun, g_ops_acked, g_snapshots_acked, g_ops_inflight, g_inflight_applied, g_inflight_absent);
    printf("   batches in flight at the kill %llu: applied whole %llu, absent whole %llu, half-applied %llu\n",
           g_batches_inflight, g_batches_applied, g_batches_absent, g_half_batches);
    printf("   torn tails cut %llu (%llu bytes) by the checker's open, %llu by the next writer's own open after a "
           "read-only check (%llu checks were read-only; %llu left a tail)\n",
           g_torn_cut, g_torn_bytes, g_tails_cut_by_writer, g_ro_only_cycles, g_tails_left);
    printf("   log size %lld bytes, delete statuses checked %llu, log generation reached %" PRIu64
           " (compactions that completed before a kill or a check)\n",
           log_size, g_nf_checked, g_generation);
    printf("   opens that loaded a snapshot %llu, cycles whose snapshot was newer than the last cycle's %llu, "
           "entries iterated %llu\n",
           g_snap_used, g_snap_advanced, g_iter_entries);
    printf("   acknowledged operations checked %llu, id states checked %llu, bytes never stored %llu\n",
           g_ops_acked, g_ids_checked, g_garbage);
    const unsigned long long nc = g_failed ? g_cycle : g_cycle - 1;
    printf("   mean per cycle: writer fork to store open %.1f ms, writing until the kill %.1f ms, reopen and "
           "check %.1f ms\n",
           g_ready_cycles ? (double)g_us_start / 1e3 / (double)g_ready_cycles : 0.0,
           g_ready_cycles ? (double)g_us_write / 1e3 / (double)g_ready_cycles : 0.0,
           nc ? (double)g_us_check / 1e3 / (double)nc : 0.0);
    printf("   acknowledged writes lost: %llu\n", g_lost);

    for (int u = 0; u < g_U; u++) {
        free(g_hist[u]);
    }
    free(g_ops);
    if (g_failed || g_lost || g_garbage || g_half_batches || g_protocol_errors) {
        fprintf(stderr, "== crash: FAILED (seed %" PRIu64 ", cycle %" PRIu64 "); store kept in %s\n"
                        "   rerun: CRASH_SEED=%" PRIu64 " CRASH_CYCLES=%ld make crash\n",
                g_seed, g_cycle, g_dir, g_seed, cycles);
        return 1;
    }
    if (nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS) != 0) {
        fprintf(stderr, "crash: could not remove %s: %s\n", g_dir, strerror(errno));
        return 1;
    }
    printf("== crash: all checks passed\n");
    return 0;
}

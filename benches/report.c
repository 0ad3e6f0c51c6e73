/*
 * Turns a results TSV of benches/run.sh into Markdown tables on stdout:
 * every engine x workload, walstore's ratio to the best peer per workload,
 * and walstore's memory per indexed entry.
 *
 *   report RESULTS.tsv
 *
 * Ratio: walstore's throughput over the best peer's (ops/s; for W5 and
 * W5-snap, the best peer's open time over walstore's), so above 1 means
 * walstore is faster. W1-NONE is set against the peers' W1 (no peer has a
 * durability level like NONE) and W5-snap against the peers' W5.
 *
 * The engine "ceiling" (no engine: W1-CEIL, a bare loop of one pwrite per
 * store; DISK-APPEND and DISK-OVERWRITE, loops of pwrite(1 MiB) + fdatasync
 * appending to a fresh file and overwriting a synced one) is never a peer.
 * Its rows are in the main table; the summary gives walstore's W1 as a
 * percentage of W1-CEIL, and its W2 and W6-store MB/s as percentages of
 * DISK-APPEND and DISK-OVERWRITE.
 */
#define _POSIX_C_SOURCE 200809L

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_ROWS 512
#define MAX_META 32

typedef struct {
    char engine[32], workload[32], note[512];
    double ops, bytes, secs, ops_s, mb_s, p50, p99, rss_kb;
} row_t;

static row_t rows[MAX_ROWS];
static int nrows;
static char meta[MAX_META][512];
static int nmeta;

static const char *const ORDER[] = {"LOAD", "W1", "W1-CEIL", "W1-NONE", "W2", "W3", "W3-8",
                                    "W4", "W5", "W5-snap", "W6-store", "W6-read",
                                    "DISK-APPEND", "DISK-OVERWRITE"};
#define NORDER (sizeof ORDER / sizeof *ORDER)

static const char *describe(const char *w) {
    if (!strcmp(w, "LOAD")) return "100 B stores in batches of 1000, no sync (sets up W4, W5)";
    if (!strcmp(w, "W1")) return "single stores of 100 B, no sync (FLUSH)";
    if (!strcmp(w, "W1-CEIL"))
        return "no engine: one pwrite(2) of the 132 B record per store (FLUSH ceiling)";
    if (!strcmp(w, "W1-NONE")) return "W1 with walstore NONE (buffered in process)";
    if (!strcmp(w, "W2")) return "batches of 1000 x 1 KiB, fsync per batch";
    if (!strcmp(w, "W3")) return "single stores of 100 B, fsync each";
    if (!strcmp(w, "W3-8")) return "W3 from 8 threads at once (same total)";
    if (!strcmp(w, "W4")) return "random reads of 100 B, warm cache";
    if (!strcmp(w, "W5")) return "open a LOAD store until the first read (walstore: no snapshot)";
    if (!strcmp(w, "W5-snap")) return "W5 for walstore after wal_snapshot";
    if (!strcmp(w, "W6-store")) return "stores of 1 MiB, fsync each";
    if (!strcmp(w, "W6-read")) return "reads of the 1 MiB payloads";
    if (!strcmp(w, "DISK-APPEND"))
        return "no engine: pwrite(1 MiB) + fdatasync, appending to a fresh file (log ceiling)";
    if (!strcmp(w, "DISK-OVERWRITE"))
        return "no engine: pwrite(1 MiB) + fdatasync, overwriting a written, synced file";
    return "";
}

static int is_open(const char *w) { return !strncmp(w, "W5", 2); }

/* walstore and the ceiling (W1-CEIL, DISK-APPEND, DISK-OVERWRITE: no
 * engine) are not peers. */
static int is_peer(const char *engine) {
    return strcmp(engine, "walstore") && strcmp(engine, "ceiling");
}

/* The workload the peers ran that a walstore workload is set against. */
static const char *peer_workload(const char *w) {
    if (!strcmp(w, "W1-NONE")) return "W1";
    if (!strcmp(w, "W5-snap")) return "W5";
    return w;
}

static const row_t *find(const char *engine, const char *workload) {
    for (int i = 0; i < nrows; i++)
        if (!strcmp(rows[i].engine, engine) && !strcmp(rows[i].workload, workload))
            return &rows[i];
    return NULL;
}

/* The best peer's row for a workload, or NULL. */
static const row_t *best_peer(const char *workload) {
    const row_t *best = NULL;
    for (int i = 0; i < nrows; i++) {
        const row_t *r = &rows[i];
        if (!is_peer(r->engine) || strcmp(r->workload, workload)) continue;
        if (!best || (is_open(workload) ? r->secs < best->secs : r->ops_s > best->ops_s)) best = r;
    }
    return best;
}

static double ratio(const row_t *w, const row_t *p) {
    if (is_open(w->workload)) return w->secs > 0 ? p->secs / w->secs : 0;
    return p->ops_s > 0 ? w->ops_s / p->ops_s : 0;
}

/* Appends ", 352.7 MB/s (63% of append, 35% of overwrite ceiling)" to buf
 * (capacity cap): walstore's MB/s mb_s against the DISK-CEIL rows present. */
static void append_disk_pct(char *buf, size_t cap, double mb_s) {
    const row_t *a = find("ceiling", "DISK-APPEND"), *o = find("ceiling", "DISK-OVERWRITE");
    if (a && !(a->mb_s > 0)) a = NULL;
    if (o && !(o->mb_s > 0)) o = NULL;
    size_t used = strlen(buf);
    if (used >= cap) return;
    if (a && o)
        snprintf(buf + used, cap - used,
                 ", %.1f MB/s (%.0f%% of append, %.0f%% of overwrite ceiling)", mb_s,
                 100.0 * mb_s / a->mb_s, 100.0 * mb_s / o->mb_s);
    else if (a || o)
        snprintf(buf + used, cap - used, ", %.1f MB/s (%.0f%% of %s ceiling)", mb_s,
                 100.0 * mb_s / (a ? a : o)->mb_s, a ? "append" : "overwrite");
}

static void fmt_num(char *buf, size_t cap, double v, int prec) {
    if (v < 0) snprintf(buf, cap, "-");
    else snprintf(buf, cap, "%.*f", prec, v);
}

/* A note's numeric field "key=value;", or -1. */
static double note_field(const char *note, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(note, pat);
    return p ? strtod(p + strlen(pat), NULL) : -1;
}

/* Copies src into dst (capacity cap), cut to fit. */
static void copy_str(char *dst, size_t cap, const char *src) {
    size_t n = strlen(src);
    if (n >= cap) n = cap - 1;
    memcpy(dst, src, n);
    dst[n] = 0;
}

static void split(char *line, char **f, int n) {
    for (int i = 0; i < n; i++) {
        f[i] = line;
        char *t = line ? strchr(line, '\t') : NULL;
        if (t) *t = 0;
        line = t ? t + 1 : NULL;
    }
}

int main(int argc, char **argv) {
    if (argc != 2) {
        fprintf(stderr, "usage: %s RESULTS.tsv\n", argv[0]);
        return 2;
    }
    FILE *f = fopen(argv[1], "r");
    if (!f) {
        perror(argv[1]);
        return 1;
    }
    char line[2048];
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (line[0] == '#') {
            if (nmeta < MAX_META) copy_str(meta[nmeta++], sizeof meta[0], line + 2);
            continue;
        }
        if (!line[0] || !strncmp(line, "engine\t", 7)) continue;
        char *fl[11];
        split(line, fl, 11);
        if (!fl[10] || nrows == MAX_ROWS) {
            fprintf(stderr, "report: skipping a malformed line\n");
            continue;
        }
        row_t *r = &rows[nrows++];
        copy_str(r->engine, sizeof r->engine, fl[0]);
        copy_str(r->workload, sizeof r->workload, fl[1]);
        r->ops = strtod(fl[2], NULL);
        r->bytes = strtod(fl[3], NULL);
        r->secs = strtod(fl[4], NULL);
        r->ops_s = strtod(fl[5], NULL);
        r->mb_s = strtod(fl[6], NULL);
        r->p50 = strtod(fl[7], NULL);
        r->p99 = strtod(fl[8], NULL);
        r->rss_kb = strtod(fl[9], NULL);
        copy_str(r->note, sizeof r->note, fl[10]);
    }
    fclose(f);

    printf("### walstore benchmark results\n\n");
    for (int i = 0; i < nmeta; i++) printf("- %s\n", meta[i]);

    printf("\n| workload | engine | ops | ops/s | MB/s | p50 us | p99 us | time | peak RSS MiB | "
           "walstore / best peer |\n");
    printf("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (size_t k = 0; k < NORDER; k++) {
        for (int i = 0; i < nrows; i++) {
            const row_t *r = &rows[i];
            if (strcmp(r->workload, ORDER[k])) continue;
            char ops_s[32], mb_s[32], p50[32], p99[32], t[32], rat[64] = "";
            fmt_num(ops_s, sizeof ops_s, is_open(r->workload) ? -1 : r->ops_s, 0);
            fmt_num(mb_s, sizeof mb_s, r->bytes > 0 ? r->mb_s : -1, 1);
            fmt_num(p50, sizeof p50, r->p50, 1);
            fmt_num(p99, sizeof p99, r->p99, 1);
            if (r->secs < 1) snprintf(t, sizeof t, "%.2f ms", r->secs * 1e3);
            else snprintf(t, sizeof t, "%.2f s", r->secs);
            if (!strcmp(r->engine, "walstore") && strcmp(r->workload, "LOAD")) {
                const row_t *p = best_peer(peer_workload(r->workload));
                if (p) snprintf(rat, sizeof rat, "%.3gx (%s)", ratio(r, p), p->engine);
            }
            printf("| %s | %s | %.0f | %s | %s | %s | %s | %s | %.1f | %s |\n", r->workload,
                   r->engine, r->ops, ops_s, mb_s, p50, p99, t, r->rss_kb / 1024.0, rat);
        }
    }

    printf("\n#### walstore against the best peer\n\n");
    printf("| workload | what | walstore | best peer | ratio | ratio to each peer |\n"
           "|---|---|---:|---:|---:|---|\n");
    for (size_t k = 1; k < NORDER; k++) {
        const row_t *w = find("walstore", ORDER[k]);
        if (!w) continue;
        const row_t *p = best_peer(peer_workload(ORDER[k]));
        char ws[160], ps[96] = "-", rs[32] = "-";
        if (is_open(ORDER[k])) snprintf(ws, sizeof ws, "%.2f ms", w->secs * 1e3);
        else snprintf(ws, sizeof ws, "%.0f ops/s", w->ops_s);
        const row_t *c = strcmp(ORDER[k], "W1") ? NULL : find("ceiling", "W1-CEIL");
        if (c && c->ops_s > 0) {
            size_t used = strlen(ws);
            snprintf(ws + used, sizeof ws - used, " (%.0f%% of the write(2) ceiling)",
                     100.0 * w->ops_s / c->ops_s);
        }
        if (!strcmp(ORDER[k], "W2") || !strcmp(ORDER[k], "W6-store"))
            append_disk_pct(ws, sizeof ws, w->mb_s);
        if (p) {
            if (is_open(ORDER[k])) snprintf(ps, sizeof ps, "%.2f ms (%s)", p->secs * 1e3, p->engine);
            else snprintf(ps, sizeof ps, "%.0f ops/s (%s)", p->ops_s, p->engine);
            snprintf(rs, sizeof rs, "%.3gx", ratio(w, p));
        }
        char each[256] = "";
        for (int i = 0; i < nrows; i++) {
            const row_t *r = &rows[i];
            if (!is_peer(r->engine) || strcmp(r->workload, peer_workload(ORDER[k]))) continue;
            char part[64];
            snprintf(part, sizeof part, "%s%.31s %.3gx", each[0] ? ", " : "", r->engine,
                     ratio(w, r));
            size_t used = strlen(each);
            copy_str(each + used, sizeof each - used, part);
        }
        printf("| %s | %s | %s | %s | %s | %s |\n", ORDER[k], describe(ORDER[k]), ws, ps, rs,
               each);
    }
    printf("\nRatio above 1: walstore is faster (throughput, or for W5 the open time). "
           "W1-NONE is set against the peers' W1, W5-snap against their W5.");
    const row_t *c = find("ceiling", "W1-CEIL");
    if (c)
        printf(" The write(2) ceiling is W1-CEIL, %.0f ops/s: a bare loop of one pwrite of "
               "walstore's record per store. FLUSH hands every store to the OS, so no engine "
               "with that durability beats it with one system call per store.",
               c->ops_s);
    const row_t *da = find("ceiling", "DISK-APPEND"), *dov = find("ceiling", "DISK-OVERWRITE");
    if (da && dov)
        printf(" The disk ceilings are W6's count of pwrite(1 MiB) + fdatasync with no engine: "
               "appending to a fresh file (DISK-APPEND, %.1f MB/s) is the most a log can reach "
               "with one sync per MiB, since each sync also commits the file's new size and "
               "blocks; overwriting a file written and synced before (DISK-OVERWRITE, %.1f MB/s) "
               "is what an engine that rewrites space it allocated earlier can reach.",
               da->mb_s, dov->mb_s);
    printf("\n");

    printf("\n#### Memory per indexed entry (growth of anonymous RSS)\n\n");
    printf("| engine | open of a store with N entries (W5) | N | stores of W1 |\n|---|---:|---:|---:|\n");
    for (int i = 0; i < nrows; i++) {
        const row_t *r = &rows[i];
        if (strcmp(r->workload, "W5")) continue;
        const row_t *w1 = find(r->engine, "W1");
        double a = note_field(r->note, "anon_growth_b_per_entry");
        double b = w1 ? note_field(w1->note, "anon_growth_b_per_entry") : -1;
        char as[32], bs[32];
        if (a >= 0) snprintf(as, sizeof as, "%.1f B", a);
        else snprintf(as, sizeof as, "-");
        if (b >= 0) snprintf(bs, sizeof bs, "%.1f B", b);
        else snprintf(bs, sizeof bs, "-");
        printf("| %s | %s | %.0f | %s |\n", r->engine, as, note_field(r->note, "entries"), bs);
    }
    printf("\nRssAnon (/proc/self/status) after the open and first read minus before the open, "
           "over N; and after W1's stores minus before its open, over its count. For walstore "
           "this is its in-memory index (it maps no files); for the peers it is their caches "
           "and memtables, not an index.\n");
    return 0;
}

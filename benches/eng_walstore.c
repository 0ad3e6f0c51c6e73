/* walstore adapter: the public C API (include/walstore.h) only. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "walstore.h"

struct eng {
    wal_t *w;
    wal_entry *entries;
    size_t cap;
};

const char *eng_name(void) { return "walstore"; }
int eng_serial_writers(void) { return 0; }

const char *eng_describe(int durability) {
    switch (durability) {
    case BENCH_FSYNC: return "WAL_DURABILITY_FSYNC";
    case BENCH_FLUSH: return "WAL_DURABILITY_FLUSH";
    default: return "WAL_DURABILITY_NONE";
    }
}

static int fail(const char *what, wal_status st) {
    fprintf(stderr, "walstore: %s: %s (%s)\n", what, wal_status_str(st), wal_last_error());
    return -1;
}

int eng_open(const char *dir, const bench_cfg *cfg, eng **out) {
    wal_options *o = wal_options_new();
    if (!o) return fail("wal_options_new", WAL_PANIC);
    wal_status st = wal_options_set_durability(o, cfg->durability);
    /* W6 stores 1 MiB payloads; the default limit (64 MiB) allows them. */
    if (st == WAL_OK && !cfg->auto_snapshots) {
        st = wal_options_set_auto_snapshot(o, false);
        if (st == WAL_OK) st = wal_options_set_snapshot_threshold(o, 0);
    }
    if (st != WAL_OK) {
        wal_options_free(o);
        return fail("options", st);
    }
    eng *e = calloc(1, sizeof *e);
    if (!e) return -1;
    st = wal_open(dir, o, &e->w);
    wal_options_free(o);
    if (st != WAL_OK) {
        free(e);
        return fail("wal_open", st);
    }
    *out = e;
    return 0;
}

int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    wal_status st = wal_store(e->w, id, val, len);
    return st == WAL_OK ? 0 : fail("wal_store", st);
}

int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens) {
    if (n > e->cap) {
        free(e->entries);
        e->entries = malloc(n * sizeof *e->entries);
        if (!e->entries) return -1;
        e->cap = n;
    }
    for (size_t i = 0; i < n; i++) e->entries[i] = (wal_entry){ids[i], vals[i], lens[i]};
    wal_status st = wal_store_batch(e->w, e->entries, n);
    return st == WAL_OK ? 0 : fail("wal_store_batch", st);
}

int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len) {
    wal_status st = wal_retrieve(e->w, id, buf, cap, len);
    if (st == WAL_OK) return 0;
    if (st == WAL_NOT_FOUND) return 1;
    return fail("wal_retrieve", st);
}

int eng_snapshot(eng *e) {
    wal_status st = wal_snapshot(e->w);
    return st == WAL_OK ? 0 : fail("wal_snapshot", st);
}

void eng_facts(eng *e, char *buf, size_t cap) {
    uint64_t autos = 0, open_us = 0, replayed = 0, snap = 0, log = 0;
    wal_stat_auto_snapshots(e->w, &autos);
    wal_open_duration_us(e->w, &open_us);
    wal_open_records_replayed(e->w, &replayed);
    wal_stat_log_bytes(e->w, &log);
    int used = wal_open_snapshot_used(e->w, &snap) == WAL_OK;
    snprintf(buf, cap, "auto_snapshots=%llu;open_us=%llu;replayed=%llu;snapshot_loaded=%s;log_mb=%.1f;",
             (unsigned long long)autos, (unsigned long long)open_us,
             (unsigned long long)replayed, used ? "yes" : "no", (double)log / 1e6);
}

int eng_close(eng *e) {
    wal_status st = wal_close(e->w);
    free(e->entries);
    free(e);
    return st == WAL_OK ? 0 : fail("wal_close", st);
}

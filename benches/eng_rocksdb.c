/* RocksDB adapter (rocksdb/c.h). Default options apart from
 * create_if_missing; ids are 8-byte big-endian keys. FSYNC:
 * WriteOptions.sync=true; FLUSH: sync=false (the WAL write is handed to
 * the OS on every write: manual_wal_flush stays off). Reads use
 * rocksdb_get_pinned, the C API's read without an extra allocation of the
 * value, then copy into the caller's buffer. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <rocksdb/c.h>

struct eng {
    rocksdb_t *db;
    rocksdb_options_t *opts;
    rocksdb_writeoptions_t *wo;
    rocksdb_readoptions_t *ro;
    rocksdb_writebatch_t *wb;
};

const char *eng_name(void) { return "rocksdb"; }
int eng_serial_writers(void) { return 0; }

const char *eng_describe(int durability) {
    return durability == BENCH_FSYNC ? "WriteOptions.sync=true" : "WriteOptions.sync=false";
}

static void key(uint64_t id, char k[8]) {
    for (int i = 0; i < 8; i++) k[i] = (char)(id >> (56 - 8 * i));
}

static int fail(const char *what, char *err) {
    fprintf(stderr, "rocksdb: %s: %s\n", what, err ? err : "?");
    rocksdb_free(err);
    return -1;
}

int eng_open(const char *dir, const bench_cfg *cfg, eng **out) {
    eng *e = calloc(1, sizeof *e);
    if (!e) return -1;
    e->opts = rocksdb_options_create();
    rocksdb_options_set_create_if_missing(e->opts, 1);
    char *err = NULL;
    e->db = rocksdb_open(e->opts, dir, &err);
    if (err) {
        rocksdb_options_destroy(e->opts);
        free(e);
        return fail("open", err);
    }
    e->wo = rocksdb_writeoptions_create();
    rocksdb_writeoptions_set_sync(e->wo, cfg->durability == BENCH_FSYNC);
    e->ro = rocksdb_readoptions_create();
    e->wb = rocksdb_writebatch_create();
    *out = e;
    return 0;
}

int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    char k[8], *err = NULL;
    key(id, k);
    rocksdb_put(e->db, e->wo, k, 8, (const char *)val, len, &err);
    return err ? fail("put", err) : 0;
}

int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens) {
    char k[8], *err = NULL;
    rocksdb_writebatch_clear(e->wb);
    for (size_t i = 0; i < n; i++) {
        key(ids[i], k);
        rocksdb_writebatch_put(e->wb, k, 8, (const char *)vals[i], lens[i]);
    }
    rocksdb_write(e->db, e->wo, e->wb, &err);
    return err ? fail("write", err) : 0;
}

int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len) {
    char k[8], *err = NULL;
    key(id, k);
    rocksdb_pinnableslice_t *p = rocksdb_get_pinned(e->db, e->ro, k, 8, &err);
    if (err) return fail("get", err);
    if (!p) return 1;
    size_t vlen = 0;
    const char *v = rocksdb_pinnableslice_value(p, &vlen);
    int rc = 0;
    if (vlen > cap) {
        fprintf(stderr, "rocksdb: value of %zu bytes over the buffer\n", vlen);
        rc = -1;
    } else {
        memcpy(buf, v, vlen);
        *len = vlen;
    }
    rocksdb_pinnableslice_destroy(p);
    return rc;
}

int eng_snapshot(eng *e) {
    (void)e;
    return 1;
}

void eng_facts(eng *e, char *buf, size_t cap) {
    (void)e;
    (void)buf;
    (void)cap;
}

int eng_close(eng *e) {
    rocksdb_close(e->db);
    rocksdb_writebatch_destroy(e->wb);
    rocksdb_readoptions_destroy(e->ro);
    rocksdb_writeoptions_destroy(e->wo);
    rocksdb_options_destroy(e->opts);
    free(e);
    return 0;
}

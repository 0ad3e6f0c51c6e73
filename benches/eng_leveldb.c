/* LevelDB adapter (leveldb/c.h). Default options apart from
 * create_if_missing; ids are 8-byte big-endian keys (bytewise order is id
 * order). FSYNC: WriteOptions.sync=true; FLUSH: sync=false (each write is
 * handed to the OS with write(), LevelDB's own definition of a write that
 * survives a process crash). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <leveldb/c.h>

struct eng {
    leveldb_t *db;
    leveldb_options_t *opts;
    leveldb_writeoptions_t *wo;
    leveldb_readoptions_t *ro;
    leveldb_writebatch_t *wb;
};

const char *eng_name(void) { return "leveldb"; }
int eng_serial_writers(void) { return 0; }

const char *eng_describe(int durability) {
    return durability == BENCH_FSYNC ? "WriteOptions.sync=true" : "WriteOptions.sync=false";
}

static void key(uint64_t id, char k[8]) {
    for (int i = 0; i < 8; i++) k[i] = (char)(id >> (56 - 8 * i));
}

static int fail(const char *what, char *err) {
    fprintf(stderr, "leveldb: %s: %s\n", what, err ? err : "?");
    leveldb_free(err);
    return -1;
}

int eng_open(const char *dir, const bench_cfg *cfg, eng **out) {
    eng *e = calloc(1, sizeof *e);
    if (!e) return -1;
    e->opts = leveldb_options_create();
    leveldb_options_set_create_if_missing(e->opts, 1);
    char *err = NULL;
    e->db = leveldb_open(e->opts, dir, &err);
    if (err) {
        leveldb_options_destroy(e->opts);
        free(e);
        return fail("open", err);
    }
    e->wo = leveldb_writeoptions_create();
    leveldb_writeoptions_set_sync(e->wo, cfg->durability == BENCH_FSYNC);
    e->ro = leveldb_readoptions_create();
    e->wb = leveldb_writebatch_create();
    *out = e;
    return 0;
}

int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    char k[8], *err = NULL;
    key(id, k);
    leveldb_put(e->db, e->wo, k, 8, (const char *)val, len, &err);
    return err ? fail("put", err) : 0;
}

int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens) {
    char k[8], *err = NULL;
    leveldb_writebatch_clear(e->wb);
    for (size_t i = 0; i < n; i++) {
        key(ids[i], k);
        leveldb_writebatch_put(e->wb, k, 8, (const char *)vals[i], lens[i]);
    }
    leveldb_write(e->db, e->wo, e->wb, &err);
    return err ? fail("write", err) : 0;
}

int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len) {
    char k[8], *err = NULL;
    size_t vlen = 0;
    key(id, k);
    char *v = leveldb_get(e->db, e->ro, k, 8, &vlen, &err);
    if (err) return fail("get", err);
    if (!v) return 1;
    int rc = 0;
    if (vlen > cap) {
        fprintf(stderr, "leveldb: value of %zu bytes over the buffer\n", vlen);
        rc = -1;
    } else {
        memcpy(buf, v, vlen);
        *len = vlen;
    }
    leveldb_free(v);
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
    leveldb_close(e->db);
    leveldb_writebatch_destroy(e->wb);
    leveldb_readoptions_destroy(e->ro);
    leveldb_writeoptions_destroy(e->wo);
    leveldb_options_destroy(e->opts);
    free(e);
    return 0;
}

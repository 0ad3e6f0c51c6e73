/* LMDB adapter (lmdb.h). One unnamed database with MDB_INTEGERKEY (native
 * u64 keys, LMDB's own integer-key mode); default environment flags apart
 * from the sync flag. FSYNC: default flags (every commit is synced);
 * FLUSH: MDB_NOSYNC (commits are written to the file with pwrite and not
 * synced: they survive a process crash, not power loss). Each write is its
 * own write transaction, each batch one transaction. Each read renews one
 * read-only transaction (mdb_txn_renew/mdb_txn_reset, LMDB's cheap way to
 * start a fresh read view), copies the value out, and resets it. */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <lmdb.h>

struct eng {
    MDB_env *env;
    MDB_dbi dbi;
    MDB_txn *rtxn;
};

const char *eng_name(void) { return "lmdb"; }
int eng_serial_writers(void) { return 0; } /* LMDB serialises write transactions itself */

const char *eng_describe(int durability) {
    return durability == BENCH_FSYNC ? "default(sync_each_commit)" : "MDB_NOSYNC";
}

static int fail(const char *what, int rc) {
    fprintf(stderr, "lmdb: %s: %s\n", what, mdb_strerror(rc));
    return -1;
}

int eng_open(const char *dir, const bench_cfg *cfg, eng **out) {
    eng *e = calloc(1, sizeof *e);
    if (!e) return -1;
    int rc = mdb_env_create(&e->env);
    if (rc) {
        free(e);
        return fail("mdb_env_create", rc);
    }
    /* Address space only: the file grows as pages are written. */
    size_t map = (size_t)(cfg->map_bytes * 3 + (1ull << 30));
    rc = mdb_env_set_mapsize(e->env, map);
    if (!rc) rc = mdb_env_open(e->env, dir, cfg->durability == BENCH_FSYNC ? 0 : MDB_NOSYNC, 0644);
    MDB_txn *txn = NULL;
    if (!rc) rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (!rc) rc = mdb_dbi_open(txn, NULL, MDB_INTEGERKEY | MDB_CREATE, &e->dbi);
    if (!rc) rc = mdb_txn_commit(txn);
    else if (txn) mdb_txn_abort(txn);
    if (rc) {
        mdb_env_close(e->env);
        free(e);
        return fail("open", rc);
    }
    *out = e;
    return 0;
}

static int put_in(eng *e, MDB_txn *txn, uint64_t id, const uint8_t *val, size_t len) {
    MDB_val k = {sizeof id, &id}, v = {len, (void *)val};
    return mdb_put(txn, e->dbi, &k, &v, 0);
}

int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc) return fail("mdb_txn_begin", rc);
    rc = put_in(e, txn, id, val, len);
    if (rc) {
        mdb_txn_abort(txn);
        return fail("mdb_put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail("mdb_txn_commit", rc) : 0;
}

int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens) {
    MDB_txn *txn;
    int rc = mdb_txn_begin(e->env, NULL, 0, &txn);
    if (rc) return fail("mdb_txn_begin", rc);
    for (size_t i = 0; i < n && !rc; i++) rc = put_in(e, txn, ids[i], vals[i], lens[i]);
    if (rc) {
        mdb_txn_abort(txn);
        return fail("mdb_put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc ? fail("mdb_txn_commit", rc) : 0;
}

int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len) {
    int rc = e->rtxn ? mdb_txn_renew(e->rtxn) : mdb_txn_begin(e->env, NULL, MDB_RDONLY, &e->rtxn);
    if (rc) return fail("read transaction", rc);
    MDB_val k = {sizeof id, &id}, v;
    rc = mdb_get(e->rtxn, e->dbi, &k, &v);
    int out = 0;
    if (rc == MDB_NOTFOUND) {
        out = 1;
    } else if (rc) {
        out = fail("mdb_get", rc);
    } else if (v.mv_size > cap) {
        fprintf(stderr, "lmdb: value of %zu bytes over the buffer\n", v.mv_size);
        out = -1;
    } else {
        memcpy(buf, v.mv_data, v.mv_size);
        *len = v.mv_size;
    }
    mdb_txn_reset(e->rtxn);
    return out;
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
    if (e->rtxn) mdb_txn_abort(e->rtxn);
    mdb_env_close(e->env);
    free(e);
    return 0;
}

/* SQLite adapter (sqlite3.h). Table kv(id INTEGER PRIMARY KEY, v BLOB): the
 * id is the rowid, so the table is its own index. journal_mode=WAL. FSYNC:
 * synchronous=FULL (the WAL is synced at every commit); FLUSH:
 * synchronous=NORMAL (commits are written to the WAL and survive a process
 * crash; the WAL is synced only at checkpoints). Each write is its own
 * (autocommit) transaction, each batch one BEGIN..COMMIT. One connection;
 * concurrent writers are serialised by the harness (eng_serial_writers). */
#include "bench.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

struct eng {
    sqlite3 *db;
    sqlite3_stmt *put, *get, *begin, *commit;
};

const char *eng_name(void) { return "sqlite"; }
int eng_serial_writers(void) { return 1; }

const char *eng_describe(int durability) {
    return durability == BENCH_FSYNC ? "WAL+synchronous=FULL" : "WAL+synchronous=NORMAL";
}

static int fail(eng *e, const char *what) {
    fprintf(stderr, "sqlite: %s: %s\n", what, e->db ? sqlite3_errmsg(e->db) : "?");
    return -1;
}

static int exec(eng *e, const char *sql) {
    char *msg = NULL;
    if (sqlite3_exec(e->db, sql, NULL, NULL, &msg) != SQLITE_OK) {
        fprintf(stderr, "sqlite: %s: %s\n", sql, msg ? msg : "?");
        sqlite3_free(msg);
        return -1;
    }
    return 0;
}

int eng_open(const char *dir, const bench_cfg *cfg, eng **out) {
    eng *e = calloc(1, sizeof *e);
    if (!e) return -1;
    char path[4096];
    snprintf(path, sizeof path, "%s/bench.sqlite", dir);
    if (sqlite3_open_v2(path, &e->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
            SQLITE_OK ||
        exec(e, "PRAGMA journal_mode=WAL") ||
        exec(e, cfg->durability == BENCH_FSYNC ? "PRAGMA synchronous=FULL"
                                               : "PRAGMA synchronous=NORMAL") ||
        exec(e, "CREATE TABLE IF NOT EXISTS kv(id INTEGER PRIMARY KEY, v BLOB NOT NULL)") ||
        sqlite3_prepare_v2(e->db, "INSERT OR REPLACE INTO kv(id, v) VALUES(?, ?)", -1, &e->put,
                           NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(e->db, "SELECT v FROM kv WHERE id = ?", -1, &e->get, NULL) !=
            SQLITE_OK ||
        sqlite3_prepare_v2(e->db, "BEGIN", -1, &e->begin, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(e->db, "COMMIT", -1, &e->commit, NULL) != SQLITE_OK) {
        fail(e, "open");
        eng_close(e);
        return -1;
    }
    *out = e;
    return 0;
}

static int step_done(eng *e, sqlite3_stmt *s, const char *what) {
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? 0 : fail(e, what);
}

static int put_one(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    sqlite3_bind_int64(e->put, 1, (sqlite3_int64)id);
    sqlite3_bind_blob64(e->put, 2, val, len, SQLITE_STATIC);
    int rc = step_done(e, e->put, "insert");
    sqlite3_clear_bindings(e->put);
    return rc;
}

int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len) {
    return put_one(e, id, val, len);
}

int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens) {
    if (step_done(e, e->begin, "BEGIN")) return -1;
    for (size_t i = 0; i < n; i++) {
        if (put_one(e, ids[i], vals[i], lens[i])) {
            exec(e, "ROLLBACK");
            return -1;
        }
    }
    return step_done(e, e->commit, "COMMIT");
}

int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len) {
    sqlite3_bind_int64(e->get, 1, (sqlite3_int64)id);
    int rc = sqlite3_step(e->get), out = 0;
    if (rc == SQLITE_ROW) {
        const void *v = sqlite3_column_blob(e->get, 0);
        size_t n = (size_t)sqlite3_column_bytes(e->get, 0);
        if (n > cap) {
            fprintf(stderr, "sqlite: value of %zu bytes over the buffer\n", n);
            out = -1;
        } else {
            if (n) memcpy(buf, v, n);
            *len = n;
        }
    } else if (rc == SQLITE_DONE) {
        out = 1;
    } else {
        out = fail(e, "select");
    }
    sqlite3_reset(e->get);
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
    sqlite3_finalize(e->put);
    sqlite3_finalize(e->get);
    sqlite3_finalize(e->begin);
    sqlite3_finalize(e->commit);
    int rc = sqlite3_close(e->db) == SQLITE_OK ? 0 : fail(e, "close");
    free(e);
    return rc;
}

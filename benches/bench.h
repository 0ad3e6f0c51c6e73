/*
 * walstore benchmark: the interface every engine adapter implements.
 *
 * One program (bench.c) drives every workload; it is linked with exactly
 * one adapter (eng_<name>.c) per binary, build/bench/bench-<name>, so each
 * engine runs in its own process and its peak RSS is its own.
 *
 * Every adapter call returns 0 on success; -1 on failure, after printing
 * what failed to stderr. eng_get returns 1 for a missing id.
 */
#ifndef WALSTORE_BENCH_H
#define WALSTORE_BENCH_H

#include <stddef.h>
#include <stdint.h>

/* Durability levels, named after walstore's; each adapter maps them to its
 * engine's closest equivalent (benches/README.md explains the choices). */
enum bench_durability {
    BENCH_FSYNC = 0, /* survives power loss: each write/batch is fsynced */
    BENCH_FLUSH = 1, /* survives a process crash: handed to the OS */
    BENCH_NONE = 2   /* may sit in a process buffer (walstore only) */
};

typedef struct {
    int durability;     /* enum bench_durability */
    int auto_snapshots; /* walstore: 1 = library default (on, 64 MiB
                           threshold); 0 = off (threshold 0). Ignored by
                           the peers. */
    uint64_t map_bytes; /* upper bound of the data the run writes (LMDB
                           sizes its map from it) */
} bench_cfg;

typedef struct eng eng;

/* The engine's name, as in the results. */
const char *eng_name(void);

/* 1 if concurrent eng_put calls from several threads must be serialised
 * by the harness (the engine has no thread-safe handle). */
int eng_serial_writers(void);

int eng_open(const char *dir, const bench_cfg *cfg, eng **out);
int eng_put(eng *e, uint64_t id, const uint8_t *val, size_t len);
/* One atomic batch with one sync (as durable as cfg->durability says). */
int eng_put_batch(eng *e, size_t n, const uint64_t *ids, const uint8_t *const *vals,
                  const size_t *lens);
/* Copies the value of id into buf (capacity cap) and sets *len.
 * 0 found, 1 not found, -1 error (including a value larger than cap). */
int eng_get(eng *e, uint64_t id, uint8_t *buf, size_t cap, size_t *len);
/* walstore: wal_snapshot. Others: returns 1 (no such thing). */
int eng_snapshot(eng *e);
/* Appends "key=value;" facts worth recording (e.g. walstore's automatic
 * snapshot count) to buf. May write nothing. */
void eng_facts(eng *e, char *buf, size_t cap);
int eng_close(eng *e);

/* The settings the adapter uses for a durability level, for the notes. */
const char *eng_describe(int durability);

#endif

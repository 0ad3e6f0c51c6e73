/*
 * quad.c: one small walstore program, written the same way in C, C++
 * (examples-cpp/quad.cpp), Go (bindings/go/cmd/quad) and Python
 * (bindings/python/examples/quad.py). All four print exactly
 * examples-c/quad.expected; `make quad` checks that (README.md).
 *
 * Usage: quad DIR (a directory that does not exist yet, or a new store).
 */
#include "walstore.h"

#include <stdio.h>
#include <stdlib.h>

/* Any failure: print what failed and the library's message, and exit. */
static void check(wal_status s, const char *what)
{
    if (s != WAL_OK) {
        fprintf(stderr, "%s: %s: %s\n", what, wal_status_str(s), wal_last_error());
        exit(1);
    }
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: %s DIR\n", argv[0]);
        return 2;
    }
    wal_t *w = NULL;
    check(wal_open(argv[1], NULL, &w), "open");

    /* Three ids in one batch: one write, all or nothing after a crash. */
    const wal_entry batch[] = {
        {1, (const uint8_t *)"one", 3},
        {2, (const uint8_t *)"two", 3},
        {3, (const uint8_t *)"three", 5},
    };
    check(wal_store_batch(w, batch, 3), "store_batch");
    printf("stored ids 1, 2, 3 in one batch\n");

    uint8_t *data = NULL;
    size_t len = 0;
    check(wal_retrieve_alloc(w, 2, &data, &len), "retrieve");
    printf("id 2 reads \"%.*s\"\n", (int)len, (const char *)data);
    wal_buf_free(data);

    check(wal_delete(w, 1), "delete");
    printf("deleted id 1\n");

    wal_iter_t *it = NULL;
    check(wal_iter_open(w, &it), "iter_open");
    for (;;) {
        bool has_entry = false;
        uint64_t id = 0;
        const uint8_t *payload = NULL;
        size_t n = 0;
        check(wal_iter_next(it, &has_entry, &id, &payload, &n), "iter_next");
        if (!has_entry) {
            break;
        }
        printf("live id %llu: %zu bytes\n", (unsigned long long)id, n);
    }
    wal_iter_free(it);

    uint64_t live_ids = 0, log_bytes = 0, generation = 0;
    check(wal_stat_live_ids(w, &live_ids), "stats");
    check(wal_stat_log_bytes(w, &log_bytes), "stats");
    printf("stats: %llu live ids, %llu log bytes\n", (unsigned long long)live_ids, (unsigned long long)log_bytes);

    check(wal_compact(w), "compact");
    check(wal_stat_generation(w, &generation), "stats");
    check(wal_stat_live_ids(w, &live_ids), "stats");
    check(wal_stat_log_bytes(w, &log_bytes), "stats");
    printf("compacted: generation %llu, %llu live ids, %llu log bytes\n", (unsigned long long)generation,
           (unsigned long long)live_ids, (unsigned long long)log_bytes);

    check(wal_close(w), "close");
    printf("closed\n");
    return 0;
}

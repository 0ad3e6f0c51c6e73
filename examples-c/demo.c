/*
 * demo.c: a first tour of walstore's C API (`make run` builds and runs it).
 *
 * It opens a store in a fresh temporary directory, stores and batch-stores
 * a few payloads, reads them back, deletes one, reopens the store to show
 * the data survived, and finally damages one byte of the log on disk to
 * show how walstore reports corruption.
 *
 * The rules used throughout (see include/walstore.h):
 *   - every call that can fail returns a wal_status; WAL_OK is 0;
 *   - after a failure, wal_last_error() says what failed and where;
 *   - walstore copies what you pass in, and what it hands out is freed with
 *     the matching function (wal_close, wal_buf_free, wal_options_free).
 */
#define _XOPEN_SOURCE 700

#include "walstore.h"

#include <fcntl.h>
#include <ftw.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static char dir[] = "/tmp/walstore-demo-XXXXXX";

/* Prints a failed call's status and message. wal_last_error() is valid only
 * until the next walstore call, so it is copied first. */
static void report(const char *what, wal_status s)
{
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", wal_last_error());
    fprintf(stderr, "%s failed: %s (status %d)\n  %s\n", what, wal_status_str(s), (int)s, msg);
}

/* Aborts the demo on any unexpected status. */
#define TRY(call)                                                                                  \
    do {                                                                                           \
        wal_status s_ = (call);                                                                    \
        if (s_ != WAL_OK) {                                                                        \
            report(#call, s_);                                                                     \
            exit(1);                                                                               \
        }                                                                                          \
    } while (0)

/* Reads `id` and prints it. Returns 1 if it does not equal `want`. */
static int show(wal_t *w, uint64_t id, const char *want)
{
    uint8_t *buf = NULL;
    size_t len = 0;
    wal_status s = wal_retrieve_alloc(w, id, &buf, &len); /* walstore allocates */
    if (s != WAL_OK) {
        report("wal_retrieve_alloc", s);
        return 1;
    }
    printf("  id %llu -> \"%.*s\"\n", (unsigned long long)id, (int)len, (const char *)buf);
    int bad = len != strlen(want) || memcmp(buf, want, len) != 0;
    wal_buf_free(buf);
    return bad;
}

static int remove_entry(const char *path, const struct stat *st, int type, struct FTW *ftw)
{
    (void)st;
    (void)type;
    (void)ftw;
    return remove(path);
}

int main(void)
{
    if (mkdtemp(dir) == NULL) {
        perror("mkdtemp");
        return 1;
    }
    printf("walstore %s, store in %s\n", wal_version(NULL, NULL, NULL), dir);

    /* 1. Open with the defaults (NULL options): every write is fsynced. */
    wal_t *w = NULL;
    TRY(wal_open(dir, NULL, &w));

    /* 2. Store a few payloads, one call each. */
    const char *greeting = "hello, walstore";
    TRY(wal_store(w, 1, (const uint8_t *)greeting, strlen(greeting)));
    TRY(wal_store(w, 2, (const uint8_t *)"temporary", 9));
    TRY(wal_store(w, 3, (const uint8_t *)"three", 5));

    /* 3. Store three more in one batch: after a crash, all or none. */
    wal_entry batch[] = {
        {10, (const uint8_t *)"ten", 3},
        {11, (const uint8_t *)"eleven", 6},
        {12, (const uint8_t *)"twelve", 6},
    };
    TRY(wal_store_batch(w, batch, 3));

    /* 4. Read everything back. */
    printf("stored:\n");
    int bad = show(w, 1, greeting) + show(w, 2, "temporary") + show(w, 3, "three") +
              show(w, 10, "ten") + show(w, 11, "eleven") + show(w, 12, "twelve");

    /* 5. Delete one; reading it now gives WAL_NOT_FOUND. */
    TRY(wal_delete(w, 2));
    size_t len = 0;
    wal_status s = wal_retrieve(w, 2, NULL, 0, &len);
    printf("deleted id 2: wal_retrieve -> %s\n", wal_status_str(s));
    bad += s != WAL_NOT_FOUND;

    /* 6. Close, reopen, and check that everything survived. */
    TRY(wal_close(w));
    w = NULL;
    TRY(wal_open(dir, NULL, &w));
    uint64_t replayed = 0;
    TRY(wal_open_records_replayed(w, &replayed));
    printf("reopened: %llu records replayed (6 stores + 1 delete)\n", (unsigned long long)replayed);
    bad += replayed != 7;
    bad += show(w, 1, greeting) + show(w, 3, "three") + show(w, 10, "ten") + show(w, 11, "eleven") +
           show(w, 12, "twelve");
    bad += wal_retrieve(w, 2, NULL, 0, &len) != WAL_NOT_FOUND;
    TRY(wal_close(w));
    if (bad) {
        fprintf(stderr, "demo: the data did not survive as expected\n");
        return 1;
    }

    /* 7. Damage one byte on disk. The log starts with a 64-byte file header,
     * then each record has a 32-byte header before its payload, so the
     * first payload (id 1's) starts at byte 96. */
    char log[128];
    snprintf(log, sizeof log, "%s/wal-0000000000000001.log", dir);
    int fd = open(log, O_RDWR);
    uint8_t byte = 0;
    if (fd < 0 || pread(fd, &byte, 1, 96) != 1) {
        perror(log);
        return 1;
    }
    byte ^= 0xFF;
    if (pwrite(fd, &byte, 1, 96) != 1 || close(fd) != 0) {
        perror(log);
        return 1;
    }

    /* 8. Reopen: the damaged record is followed by valid ones, so this is
     * corruption, not a torn tail, and the default STRICT recovery refuses
     * to open. The message names the file, the offset and both CRCs. */
    w = NULL;
    s = wal_open(dir, NULL, &w);
    char msg[1024];
    snprintf(msg, sizeof msg, "%s", wal_last_error());
    printf("after flipping byte 96 of the log: wal_open -> %s (%s)\n  %s\n",
           s == WAL_CORRUPTION ? "WAL_CORRUPTION" : "unexpected status", wal_status_str(s), msg);
    if (s == WAL_OK) {
        wal_close(w);
    }

    /* 9. Clean up the temporary directory. */
    if (nftw(dir, remove_entry, 8, FTW_DEPTH | FTW_PHYS) != 0) {
        perror("removing the temp dir");
        return 1;
    }
    if (s != WAL_CORRUPTION) {
        return 1;
    }
    printf("demo: done\n");
    return 0;
}

# Process crash harness (crash/): a writer child (FSYNC, 4 threads: stores,
# batches, deletes, overwrites of 0..64 KiB, wal_snapshot calls, automatic
# snapshots every 256 KiB) is killed with SIGKILL at random moments; after
# every kill the parent reopens the store (STRICT) and checks that every
# acknowledged operation survived exactly, no batch is half-applied, no id
# holds bytes never stored for it, and a cursor sees exactly those ids.
# Only the public C API is used. crash/crash_harness.c explains each check.
#
#   make crash        300 kill cycles (about a minute here)
#   make crash-quick  40 cycles (a few seconds); part of `make test`
#
# Environment: CRASH_SEED (printed every run; a seed fixes each writer
# thread's sequence of operations and every kill delay, though not the
# thread interleaving), CRASH_CYCLES (make crash), CRASH_QUICK_CYCLES
# (make crash-quick), CRASH_MAX_DELAY_US, CRASH_THREADS, CRASH_SNAPSHOTS=0|1,
# CRASH_SNAPSHOT_THRESHOLD (0: no automatic snapshots), CRASH_DIR. On a
# failure the store directory and the writer's transcript of the failing
# cycle are kept and the command to rerun is printed.

CRASH_BUILD := $(BUILD)/crash
CRASH_DEPS  := crash/crash_common.h include/walstore.h

.PHONY: crash crash-quick crash-build

# The parent is built with ASan/UBSan (it must not be the bug); the writer
# without, so that its timing is a real application's.
$(CRASH_BUILD)/crash_writer: crash/crash_writer.c $(CRASH_DEPS) lib
	@mkdir -p $(CRASH_BUILD)
	$(CC) $(CFLAGS_STRICT) -O2 -Iinclude crash/crash_writer.c -o $@ $(LINK) -lpthread

$(CRASH_BUILD)/crash_harness: crash/crash_harness.c $(CRASH_DEPS) lib
	@mkdir -p $(CRASH_BUILD)
	$(CC) $(CFLAGS_STRICT) -O1 $(SANITIZE) -Iinclude crash/crash_harness.c -o $@ $(LINK)

crash-build: $(CRASH_BUILD)/crash_writer $(CRASH_BUILD)/crash_harness

crash: crash-build
	env -u RUST_BACKTRACE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  $(CRASH_BUILD)/crash_harness $(CRASH_BUILD)/crash_writer

crash-quick: crash-build
	env -u RUST_BACKTRACE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 \
	  CRASH_CYCLES=$${CRASH_QUICK_CYCLES:-40} \
	  $(CRASH_BUILD)/crash_harness $(CRASH_BUILD)/crash_writer

TEST_EXTRA += crash-quick

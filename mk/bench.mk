# Benchmarks (benches/): one C program, benches/bench.c, linked once per
# engine with that engine's adapter (benches/eng_<engine>.c) and run once
# per engine and workload in its own process, on identical workloads:
# walstore against LevelDB, RocksDB, LMDB and SQLite through their C APIs.
# benches/README.md describes the workloads and the sync settings.
#
#   make bench        every workload, every engine, W1-CEIL (the ceiling of
#                     one write(2) per store) and DISK-CEIL (the disk's
#                     durable bandwidth: pwrite of 1 MiB + fdatasync,
#                     appending and overwriting), 3 rounds of all but LOAD
#                     and W5, a sync before each run (6.5-8.5 minutes here);
#                     installs the peers' -dev packages with apt-get when
#                     missing (as root; otherwise SKIP per engine); writes
#                     build/bench/results-<date>.{tsv,md,png} and, at the
#                     default scale, benches/results/latest.{tsv,md,png}
#   make bench-smoke  walstore only (and the ceilings), every workload at
#                     BENCH_SCALE=0.002 (a few seconds); part of `make test`
#
# Environment: BENCH_SCALE (default 1.0), BENCH_ENGINES, BENCH_DATA,
# BENCH_PUBLISH, BENCH_PLOT, BENCH_ROUNDS, BENCH_SEED, BENCH_KEYS (see
# benches/run.sh).

BENCH_BUILD  := $(BUILD)/bench
BENCH_CFLAGS := -O2 -std=c11 -Wall -Wextra -Wpedantic -Werror

.PHONY: bench bench-smoke bench-build

$(BENCH_BUILD)/bench-walstore: benches/bench.c benches/bench.h benches/eng_walstore.c include/walstore.h lib
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) -Iinclude -Ibenches benches/bench.c benches/eng_walstore.c -o $@ $(LINK) -lpthread

$(BENCH_BUILD)/report: benches/report.c
	@mkdir -p $(BENCH_BUILD)
	$(CC) $(BENCH_CFLAGS) benches/report.c -o $@

bench-build: $(BENCH_BUILD)/bench-walstore $(BENCH_BUILD)/report

bench: bench-build
	env CC="$(CC)" bash benches/run.sh

bench-smoke: bench-build
	env CC="$(CC)" bash benches/run.sh --smoke

TEST_EXTRA += bench-smoke

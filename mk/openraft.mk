# walstore as the Raft log of openraft 0.9 (integrations/openraft, its own
# Cargo workspace with its own Cargo.lock and target/: openraft, tokio,
# serde and postcard never enter the library's dependencies).
# integrations/openraft/README.md says how the pieces fit.
#
#   make openraft-test  rustfmt and clippy -D warnings on the crate, then its
#                       tests (dev profile: half the cold build time of
#                       release, and the tests are bound by fdatasync, not
#                       CPU): unit tests (codec, group
#                       sync), openraft's storage suite (Suite::test_all and
#                       each case alone), the log store's reopen and
#                       fdatasync-failure tests, and the three-process
#                       cluster test on 127.0.0.1 (10,000 writes, a follower
#                       restart, a SIGKILLed leader). Part of `make test`.
#   make raft-bench     committed writes/s through a three-node cluster,
#                       walstore log vs in-memory log, 64 B and 4 KiB values,
#                       with the ratio (RAFT_BENCH_ARGS, e.g. --writes 5000)
#   make raft-cluster   starts the example three-node cluster on
#                       127.0.0.1:$(RAFT_CLUSTER_PORT)..+2, logs under
#                       $(RAFT_CLUSTER_DIR); Ctrl-C stops it, and the same
#                       command restarts it from its directories
#
# Needs only cargo and crates.io (the first build fetches the crates).
#
# No --locked: the crate depends on the library by path, and the library's
# version moves with each release, which would make a --locked build fail
# until the lock is refreshed. Every crates.io dependency stays pinned by the
# committed integrations/openraft/Cargo.lock all the same: cargo only
# rewrites the walstore entry. Commit the refreshed lock with a version bump.

OPENRAFT_MANIFEST := --manifest-path $(CURDIR)/integrations/openraft/Cargo.toml
RAFT_BENCH_ARGS   ?=
RAFT_CLUSTER_DIR  ?= $(BUILD)/raft-cluster
RAFT_CLUSTER_PORT ?= 21001

.PHONY: openraft-test raft-bench raft-cluster

openraft-test:
	$(CARGO) fmt $(OPENRAFT_MANIFEST) -- --check
	$(CARGO) clippy $(OPENRAFT_MANIFEST) --all-targets -- -D warnings
	$(CARGO) test $(OPENRAFT_MANIFEST)

raft-bench:
	$(CARGO) build --release $(OPENRAFT_MANIFEST) --bin raft-bench
	$(CURDIR)/integrations/openraft/target/release/raft-bench --dir $(BUILD)/raft-bench $(RAFT_BENCH_ARGS)

raft-cluster:
	$(CARGO) build --release $(OPENRAFT_MANIFEST) --bin walstore-raft
	$(CURDIR)/integrations/openraft/target/release/walstore-raft cluster --dir $(RAFT_CLUSTER_DIR) --port $(RAFT_CLUSTER_PORT)

TEST_EXTRA += openraft-test

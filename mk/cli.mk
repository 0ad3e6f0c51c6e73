# The command-line tool `walstore` (crate walstore-cli in cli/): verify,
# stats, get and dump on a store directory, never changing it.
#
#   make cli        builds target/release/walstore
#   make cli-test   clippy -D warnings on the CLI crate (every target), then
#                   its unit and integration tests in release mode. The tests
#                   build stores with the library and run the binary on them;
#                   the progress-bar test runs it on a terminal with script(1)
#                   (util-linux, always there on Debian).
#
# cli/ is a member of the Cargo workspace, but the root Makefile's
# `cargo test` and `cargo clippy` act on the root package (the library) only,
# so the CLI crate is named here with -p. `cargo fmt --all` in `make lint`
# already covers it.

.PHONY: cli cli-test

cli:
	$(CARGO) build --release --locked -p walstore-cli

cli-test:
	$(CARGO) clippy --locked -p walstore-cli --all-targets -- -D warnings
	$(CARGO) test --locked --release -p walstore-cli

TEST_EXTRA += cli-test

# walstore: `make run` builds and runs the C demo; `make test` runs every
# check CI runs. Both work on a fresh machine with only Rust and gcc: the
# pinned cbindgen is built into .tools/ on first use, and g++ (for the C++
# header check) is installed with apt-get when missing and possible.

CARGO      ?= cargo
CC         ?= gcc
CXX        ?= g++
CBINDGEN_VERSION := 0.29.2
TOOLS      := $(CURDIR)/.tools
CBINDGEN   := $(TOOLS)/bin/cbindgen
LIBDIR     := $(CURDIR)/target/release
BUILD      := $(CURDIR)/build
CFLAGS_STRICT := -std=c11 -Wall -Wextra -Wpedantic -Werror -g
SANITIZE   := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LINK       := -L$(LIBDIR) -lwalstore -Wl,-rpath,$(LIBDIR)

.PHONY: all lib run test rust-test lint header header-check c-test cpp-header-check clean

all: lib

# The cdylib carries the soname libwalstore.so.0 (build.rs); programs linked
# against it look for that name, so it exists beside the unversioned one.
lib:
	$(CARGO) build --release --locked
	ln -sf libwalstore.so $(LIBDIR)/libwalstore.so.0

$(CBINDGEN):
	@echo "== installing cbindgen $(CBINDGEN_VERSION) into $(TOOLS) (first run only)"
	$(CARGO) install cbindgen --version $(CBINDGEN_VERSION) --locked --root $(TOOLS)

header: $(CBINDGEN)
	$(CBINDGEN) --quiet --config cbindgen.toml --crate walstore --output include/walstore.h

# The header is the contract: it must be exactly what the code generates.
header-check: $(CBINDGEN)
	@mkdir -p $(BUILD)
	$(CBINDGEN) --quiet --config cbindgen.toml --crate walstore --output $(BUILD)/walstore.h
	@diff -u include/walstore.h $(BUILD)/walstore.h || { echo "include/walstore.h is stale: run 'make header' and commit it"; exit 1; }
	@echo "== header-check: include/walstore.h matches the code"

$(BUILD)/demo: examples-c/demo.c include/walstore.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_STRICT) -Iinclude examples-c/demo.c -o $@ $(LINK)

$(BUILD)/test_walstore: examples-c/test_walstore.c include/walstore.h lib
	@mkdir -p $(BUILD)
	$(CC) $(CFLAGS_STRICT) $(SANITIZE) -Iinclude examples-c/test_walstore.c -o $@ $(LINK) -lpthread

run: $(BUILD)/demo
	$(BUILD)/demo

c-test: $(BUILD)/test_walstore
	env -u RUST_BACKTRACE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(BUILD)/test_walstore

# The header must also compile as C++ (extern "C" guards, no C-only syntax).
# Debian's gcc comes without g++: install it when we can, say so when not.
cpp-header-check:
	@mkdir -p $(BUILD)
	@if [ "$(CXX)" = g++ ] && ! command -v g++ >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing g++ for the C++ header check"; \
	  { apt-get update -qq && apt-get install -y -qq g++ >/dev/null; } || echo "== apt-get could not install g++"; \
	fi
	@if command -v $(CXX) >/dev/null 2>&1; then \
	  $(CXX) -std=c++11 -Wall -Wextra -Wpedantic -Werror -Iinclude -c examples-c/header_check.cpp -o $(BUILD)/header_check.o && \
	  echo "== cpp-header-check: walstore.h compiles as C++11"; \
	else \
	  echo "== SKIP cpp-header-check: no C++ compiler '$(CXX)', and it could not be installed (needs root and apt-get)"; \
	fi

lint:
	@c=$$(rustup component list --installed 2>/dev/null); echo "$$c" | grep -q '^clippy' && echo "$$c" | grep -q '^rustfmt' || rustup component add clippy rustfmt
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --locked --all-targets -- -D warnings

rust-test:
	$(CARGO) test --locked --release

# Each mk/*.mk file adds its own targets (bindings, install, ABI, crash,
# fuzz, bench...) and appends the quick ones to TEST_EXTRA.
TEST_EXTRA :=
include $(sort $(wildcard mk/*.mk))

test: lint header-check rust-test c-test cpp-header-check run $(TEST_EXTRA)
	@echo "== make test: all checks passed"

clean:
	$(CARGO) clean
	rm -rf $(BUILD)

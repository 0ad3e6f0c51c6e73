# Coverage-guided fuzzing of the real library with cargo-fuzz (libFuzzer).
# The fuzz crate is fuzz/ (its own workspace); see fuzz/README.md.
#
#   make fuzz          fuzz every target for FUZZ_SECONDS each (default 60)
#   make fuzz-replay   replay the committed corpus and regression inputs once
#                      (no fuzzing: deterministic; part of `make test`)
#   make fuzz-build    build the targets
#   make fuzz-corpus   regenerate the seed corpus through the Store API
#
# Stable Rust: the targets are built with --sanitizer none (libFuzzer's
# coverage instrumentation works on stable; AddressSanitizer needs nightly
# flags). FUZZ_SANITIZER=address uses ASan through RUSTC_BOOTSTRAP=1.
# libFuzzer itself is C++, built by the libfuzzer-sys crate: for `make fuzz`
# a C++ compiler is installed with apt-get when missing and possible.

CARGO_FUZZ_VERSION := 0.13.2
CARGO_FUZZ     := $(TOOLS)/bin/cargo-fuzz
FUZZ_TARGETS   := open_log open_log_ops open_snapshot api_ops
FUZZ_SECONDS   ?= 60
FUZZ_SANITIZER ?= none
FUZZ_DIR       := $(CURDIR)/fuzz
FUZZ_WORK      := $(FUZZ_DIR)/work
FUZZ_BIN       := $(FUZZ_DIR)/target/x86_64-unknown-linux-gnu/release
FUZZ_ENV       := $(if $(filter none,$(FUZZ_SANITIZER)),,RUSTC_BOOTSTRAP=1)
FUZZ_CXX       := $(if $(CXX),$(CXX),c++)
# Known library bugs the targets tolerate (skip), by name (fuzz/README.md):
# empty by default, so the regression inputs fail until the bugs are fixed.
FUZZ_KNOWN_BUGS ?= $(WALSTORE_FUZZ_KNOWN_BUGS)
export WALSTORE_FUZZ_KNOWN_BUGS := $(FUZZ_KNOWN_BUGS)

TEST_EXTRA += fuzz-replay

.PHONY: fuzz fuzz-build fuzz-replay fuzz-corpus fuzz-cxx

$(CARGO_FUZZ):
	@echo "== installing cargo-fuzz $(CARGO_FUZZ_VERSION) into $(TOOLS) (first run only)"
	$(CARGO) install cargo-fuzz --version $(CARGO_FUZZ_VERSION) --locked --root $(TOOLS)

# libfuzzer-sys compiles libFuzzer's C++ sources.
fuzz-cxx:
	@if ! command -v $(FUZZ_CXX) >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing g++ (libFuzzer is C++)"; \
	  { apt-get update -qq && apt-get install -y -qq g++ >/dev/null; } || echo "== apt-get could not install g++"; \
	fi

fuzz-build: $(CARGO_FUZZ) fuzz-cxx
	@command -v $(FUZZ_CXX) >/dev/null 2>&1 || { echo "fuzz-build: no C++ compiler '$(FUZZ_CXX)' (libFuzzer is C++); install g++"; exit 1; }
	$(FUZZ_ENV) $(CARGO_FUZZ) build --sanitizer $(FUZZ_SANITIZER)

# Each committed input (seed corpus and regressions) runs once, as a file,
# so that libFuzzer neither mutates nor writes anything. The fuzz binaries
# are built with plain cargo (profile `replay`: optimised, with debug
# assertions and overflow checks, as cargo-fuzz builds them), so this needs
# no cargo-fuzz. Without a C++ compiler (libFuzzer is C++) the same target
# functions run through examples/replay.rs instead.
FUZZ_REPLAY := $(FUZZ_DIR)/target/replay

fuzz-replay:
	@set -e; \
	if command -v $(FUZZ_CXX) >/dev/null 2>&1; then \
	  $(CARGO) build --profile replay --manifest-path fuzz/Cargo.toml --bins; \
	  how=libFuzzer; \
	else \
	  echo "== fuzz-replay: no C++ compiler '$(FUZZ_CXX)' for libFuzzer: replaying through examples/replay.rs"; \
	  $(CARGO) build --profile replay --no-default-features --manifest-path fuzz/Cargo.toml --example replay; \
	  how=replay; \
	fi; \
	failed=; \
	for t in $(FUZZ_TARGETS); do \
	  files=$$(find $(FUZZ_DIR)/corpus/$$t $(FUZZ_DIR)/regressions/$$t -type f 2>/dev/null | sort); \
	  n=$$(echo "$$files" | grep -c . || true); \
	  [ "$$n" -gt 0 ] || { echo "fuzz-replay: no committed inputs for $$t"; exit 1; }; \
	  if [ $$how = libFuzzer ]; then set -- $(FUZZ_REPLAY)/$$t -runs=1; else set -- $(FUZZ_REPLAY)/examples/replay $$t; fi; \
	  log=$(FUZZ_DIR)/target/replay-$$t.log; : > $$log; \
	  start=$$(date +%s%N); bad=0; \
	  for f in $$files; do \
	    if ! "$$@" $$f > $$log.one 2>&1; then \
	      bad=$$((bad + 1)); \
	      echo "fuzz-replay $$t: FAILED on $${f#$(CURDIR)/}"; \
	      grep -A2 "panicked at" $$log.one | head -n 3 | sed 's/^/    /'; \
	    fi; \
	    cat $$log.one >> $$log; \
	  done; \
	  rm -f $$log.one; \
	  ms=$$(( ($$(date +%s%N) - start) / 1000000 )); \
	  if [ $$bad = 0 ]; then \
	    echo "== fuzz-replay $$t: $$n inputs passed ($$ms ms)"; \
	  else \
	    echo "== fuzz-replay $$t: $$bad of $$n inputs FAILED ($$ms ms; output: $${log#$(CURDIR)/})"; \
	    failed="$$failed $$t"; \
	  fi; \
	done; \
	[ -z "$$failed" ] || { echo "fuzz-replay: failed:$$failed (every committed input must pass; see fuzz/README.md)"; exit 1; }

# New inputs go to fuzz/work/corpus/<target> (ignored by git); the committed
# seeds are read, never written. Crashes land in fuzz/artifacts/<target>/.
fuzz: fuzz-build
	@mkdir -p $(FUZZ_WORK)
	@for t in $(FUZZ_TARGETS); do \
	  mkdir -p $(FUZZ_WORK)/corpus/$$t $(FUZZ_DIR)/artifacts/$$t; \
	  echo "== fuzz $$t for $(FUZZ_SECONDS) s"; \
	  $(FUZZ_BIN)/$$t $(FUZZ_WORK)/corpus/$$t $(FUZZ_DIR)/corpus/$$t \
	    -max_total_time=$(FUZZ_SECONDS) -timeout=20 -print_final_stats=1 \
	    -artifact_prefix=$(FUZZ_DIR)/artifacts/$$t/ > $(FUZZ_WORK)/$$t.log 2>&1; \
	  rc=$$?; \
	  runs=$$(sed -n 's/^stat::number_of_executed_units: *//p' $(FUZZ_WORK)/$$t.log); \
	  cov=$$(grep -o 'cov: [0-9]*' $(FUZZ_WORK)/$$t.log | tail -n 1); \
	  echo "== fuzz $$t: $${runs:-?} executions in $(FUZZ_SECONDS) s ($$(( $${runs:-0} / $(FUZZ_SECONDS) )) exec/s), $${cov:-cov: ?} (log: fuzz/work/$$t.log)"; \
	  if [ $$rc -ne 0 ]; then tail -n 60 $(FUZZ_WORK)/$$t.log; echo "fuzz: $$t found a failure; the input is in fuzz/artifacts/$$t/"; exit 1; fi; \
	done

fuzz-corpus:
	$(CARGO) run --manifest-path fuzz/Cargo.toml --example gen_corpus -- fuzz/corpus

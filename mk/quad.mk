# The same small program in four languages (README.md): examples-c/quad.c,
# examples-cpp/quad.cpp, bindings/go/cmd/quad and
# bindings/python/examples/quad.py. `make quad` builds each one, runs it on
# a fresh store under build/quad/ and diffs its output against
# examples-c/quad.expected: all four must print exactly that text. It also
# checks that README.md lists each program byte for byte (the block after
# its "<!-- quad: <path> -->" line).
#
# C is always checked (make needs gcc anyway). A missing C++ compiler, Go
# toolchain or python3 prints "== SKIP quad: <reason>" for that language and
# the others are still checked; nothing is installed here (cpp-test, go-test
# and python-test install their toolchains when they can, and run earlier in
# `make test`). The Go program is built with go.mk's settings (GOPROXY=off,
# caches under build/go); the Python one runs with the package from
# bindings/python on PYTHONPATH, against target/release/libwalstore.so.

QUAD_BUILD    := $(BUILD)/quad
QUAD_EXPECTED := examples-c/quad.expected
PYTHON3       ?= python3
GO            ?= go

# Runs the program `$(2)` (a command line) for language $(1) on a fresh
# store and diffs its output.
define quad_run
rm -rf $(QUAD_BUILD)/store-$(1); \
$(2) $(QUAD_BUILD)/store-$(1) > $(QUAD_BUILD)/$(1).out; \
diff -u $(QUAD_EXPECTED) $(QUAD_BUILD)/$(1).out || { echo "quad: the $(1) program's output differs from $(QUAD_EXPECTED)"; exit 1; }; \
echo "== quad: $(1) prints $(QUAD_EXPECTED)";
endef

QUAD_SOURCES  := examples-c/quad.c examples-cpp/quad.cpp bindings/go/cmd/quad/main.go bindings/python/examples/quad.py

.PHONY: quad

quad: lib
	@set -e; mkdir -p $(QUAD_BUILD); \
	for f in $(QUAD_SOURCES); do \
	  awk -v mark="<!-- quad: $$f -->" '$$0 == mark { s = 1; next } s == 1 { s = 2; next } s == 2 && /^```$$/ { exit } s == 2 { print }' \
	    README.md > $(QUAD_BUILD)/listing.txt; \
	  diff -u $$f $(QUAD_BUILD)/listing.txt || { echo "quad: README.md's listing of $$f is not the file"; exit 1; }; \
	done; \
	echo "== quad: README.md lists the four programs as they are"; \
	$(CC) $(CFLAGS_STRICT) -Iinclude examples-c/quad.c -o $(QUAD_BUILD)/quad-c $(LINK); \
	$(call quad_run,c,$(QUAD_BUILD)/quad-c) \
	if command -v $(CXX) >/dev/null 2>&1; then \
	  $(CXX) -std=c++17 -Wall -Wextra -Wpedantic -Werror -g -Iinclude examples-cpp/quad.cpp -o $(QUAD_BUILD)/quad-cpp $(LINK); \
	  $(call quad_run,cpp,$(QUAD_BUILD)/quad-cpp) \
	else \
	  echo "== SKIP quad: no C++ compiler '$(CXX)' for examples-cpp/quad.cpp"; \
	fi; \
	if command -v $(GO) >/dev/null 2>&1; then \
	  mkdir -p $(GO_BUILD); \
	  (cd $(GO_DIR) && $(GO_ENV) $(GO) build -o $(QUAD_BUILD)/quad-go ./cmd/quad); \
	  $(call quad_run,go,$(QUAD_BUILD)/quad-go) \
	else \
	  echo "== SKIP quad: no Go toolchain '$(GO)' for bindings/go/cmd/quad"; \
	fi; \
	if command -v $(PYTHON3) >/dev/null 2>&1; then \
	  $(call quad_run,python,env PYTHONPATH=$(CURDIR)/bindings/python WALSTORE_LIB=$(LIBDIR)/libwalstore.so PYTHONDONTWRITEBYTECODE=1 $(PYTHON3) bindings/python/examples/quad.py) \
	else \
	  echo "== SKIP quad: no $(PYTHON3) for bindings/python/examples/quad.py"; \
	fi; \
	echo "== quad: every available language prints $(QUAD_EXPECTED)"

TEST_EXTRA += quad

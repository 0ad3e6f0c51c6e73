# C++: the header-only RAII wrapper include/walstore.hpp.
#
#   make cpp-test   builds examples-cpp/test_walstore.cpp (the wrapper's test)
#                   and examples-cpp/demo.cpp with g++ -std=c++17 -Wall
#                   -Wextra -Wpedantic -Werror and ASan/UBSan, runs both.
#
# Debian's gcc comes without g++: it is installed with apt-get when missing
# and we are root; otherwise the target says "== SKIP cpp-test: <reason>".

CPP_TEST_FLAGS := -std=c++17 -Wall -Wextra -Wpedantic -Werror -g
CPP_TEST_BIN   := $(BUILD)/cpp/test_walstore
CPP_DEMO_BIN   := $(BUILD)/cpp/demo

.PHONY: cpp-test

cpp-test: lib
	@if [ "$(CXX)" = g++ ] && ! command -v g++ >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing g++ for cpp-test"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq g++ >/dev/null; } || echo "== apt-get could not install g++"; \
	fi
	@if ! command -v $(CXX) >/dev/null 2>&1; then \
	  echo "== SKIP cpp-test: no C++ compiler '$(CXX)', and it could not be installed (needs root and apt-get)"; \
	  exit 0; \
	fi; \
	set -e; mkdir -p $(BUILD)/cpp; \
	echo "$(CXX) $(CPP_TEST_FLAGS) $(SANITIZE) -Iinclude examples-cpp/test_walstore.cpp -o $(CPP_TEST_BIN) $(LINK)"; \
	$(CXX) $(CPP_TEST_FLAGS) $(SANITIZE) -Iinclude examples-cpp/test_walstore.cpp -o $(CPP_TEST_BIN) $(LINK); \
	echo "$(CXX) $(CPP_TEST_FLAGS) $(SANITIZE) -Iinclude examples-cpp/demo.cpp -o $(CPP_DEMO_BIN) $(LINK)"; \
	$(CXX) $(CPP_TEST_FLAGS) $(SANITIZE) -Iinclude examples-cpp/demo.cpp -o $(CPP_DEMO_BIN) $(LINK); \
	env -u RUST_BACKTRACE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(CPP_TEST_BIN); \
	env -u RUST_BACKTRACE ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1 $(CPP_DEMO_BIN); \
	echo "== cpp-test: walstore.hpp test and C++ demo passed"

TEST_EXTRA += cpp-test

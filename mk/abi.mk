# ABI guard: the C ABI of libwalstore.so.0 may only grow.
#
#   make abi-check      reads the public ABI of target/release/libwalstore.so
#                       with abidw (the release profile keeps debug info) and
#                       compares it with abidiff to the committed baseline
#                       abi/libwalstore.so.0.abi. Passes when they are equal
#                       or the library only adds functions or enumerators;
#                       fails on any removal or change.
#   make abi-baseline   regenerates the baseline from the current library.
#                       Run it deliberately, after a compatible addition
#                       (the check tells you), and commit the file.
#
# abi/abi.sh does the work and explains the normalisation that keeps the file
# the same on every machine and in every checkout directory.
# abigail-tools (abidw, abidiff) is installed with apt-get when missing and we
# are root; otherwise the target says "== SKIP abi-check: <reason>".

ABI_BASELINE := abi/libwalstore.so.0.abi
ABI_BUILD    := $(BUILD)/abi

.PHONY: abi-check abi-baseline abi-tools

abi-tools:
	@if ! { command -v abidw && command -v abidiff; } >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing abigail-tools for the ABI check"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq abigail-tools >/dev/null; } || echo "== apt-get could not install abigail-tools"; \
	fi

abi-check: lib abi-tools
	@if { command -v abidw && command -v abidiff; } >/dev/null 2>&1; then \
	  mkdir -p $(ABI_BUILD) && \
	  ABI_OUT=$(ABI_BUILD)/libwalstore.current.abi sh abi/abi.sh compare $(ABI_BASELINE) $(LIBDIR)/libwalstore.so include/walstore.h; \
	else \
	  echo "== SKIP abi-check: abidw/abidiff (abigail-tools) missing, and they could not be installed (needs root and apt-get)"; \
	fi

abi-baseline: lib abi-tools
	sh abi/abi.sh dump $(LIBDIR)/libwalstore.so include/walstore.h $(ABI_BASELINE)
	@echo "== abi-baseline: wrote $(ABI_BASELINE) ($$(grep -c "<elf-symbol name='wal_" $(ABI_BASELINE)) functions); review and commit it"

TEST_EXTRA += abi-check

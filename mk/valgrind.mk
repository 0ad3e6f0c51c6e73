# valgrind: the C test (examples-c/test_walstore.c) and the demo
# (examples-c/demo.c), built WITHOUT sanitizers into build/valgrind/, run
# under valgrind memcheck. Passes only with zero memcheck errors, zero bytes
# definitely, indirectly or possibly lost and exit status 0 from both ("still
# reachable" blocks, which Rust's standard library keeps for the life of
# the process, are reported, not counted; mk/valgrind.supp names the one
# "possibly lost" block of the standard library's that is suppressed, and
# why). Part of `make test`.
#
# valgrind is installed with apt-get when missing (as root); without root or
# apt-get the target says SKIP with the reason. RUST_BACKTRACE is unset for
# the run: with it set, a caught panic leaves ~33 MB of backtrace caches
# "still reachable". Logs: build/valgrind/<program>.valgrind.log, and the
# program's own output in build/valgrind/<program>.out.

VALGRIND       ?= valgrind
VALGRIND_BUILD := $(BUILD)/valgrind
VALGRIND_OPTS  := --error-exitcode=1 --leak-check=full \
                  --suppressions=mk/valgrind.supp \
                  --show-leak-kinds=definite,indirect,possible \
                  --errors-for-leak-kinds=definite,indirect,possible
VALGRIND_PROGS := test_walstore demo

.PHONY: valgrind

$(VALGRIND_BUILD)/test_walstore: examples-c/test_walstore.c include/walstore.h lib
	@mkdir -p $(VALGRIND_BUILD)
	$(CC) $(CFLAGS_STRICT) -Iinclude examples-c/test_walstore.c -o $@ $(LINK) -lpthread

$(VALGRIND_BUILD)/demo: examples-c/demo.c include/walstore.h lib
	@mkdir -p $(VALGRIND_BUILD)
	$(CC) $(CFLAGS_STRICT) -Iinclude examples-c/demo.c -o $@ $(LINK)

valgrind: $(addprefix $(VALGRIND_BUILD)/,$(VALGRIND_PROGS))
	@if ! command -v $(VALGRIND) >/dev/null 2>&1 && [ "$(VALGRIND)" = valgrind ] && \
	    [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing valgrind (apt-get)"; \
	  { apt-get update -qq && apt-get install -y -qq valgrind >/dev/null; } || echo "== apt-get could not install valgrind"; \
	fi
	@if ! command -v $(VALGRIND) >/dev/null 2>&1; then \
	  echo "== SKIP valgrind: '$(VALGRIND)' is not installed and could not be (it needs root and apt-get)"; \
	  exit 0; \
	fi; \
	echo "== valgrind: $$($(VALGRIND) --version) memcheck $(VALGRIND_OPTS)"; \
	for p in $(VALGRIND_PROGS); do \
	  log=$(VALGRIND_BUILD)/$$p.valgrind.log; out=$(VALGRIND_BUILD)/$$p.out; \
	  rm -f $$log $$out; \
	  start=$$(date +%s); \
	  env -u RUST_BACKTRACE $(VALGRIND) $(VALGRIND_OPTS) --log-file=$$log $(VALGRIND_BUILD)/$$p >$$out 2>&1; rc=$$?; \
	  secs=$$(( $$(date +%s) - start )); \
	  ok=1; \
	  [ $$rc = 0 ] || ok=0; \
	  grep -q 'ERROR SUMMARY: 0 errors from 0 contexts' $$log || ok=0; \
	  if ! grep -q 'All heap blocks were freed -- no leaks are possible' $$log; then \
	    for k in definitely indirectly possibly; do \
	      grep -Eq "$$k lost: 0 bytes in 0 blocks" $$log || ok=0; \
	    done; \
	  fi; \
	  reach=$$(sed -n 's/.*still reachable: \([0-9,]* bytes in [0-9,]* blocks\).*/\1/p' $$log); \
	  supp=$$(sed -n 's/.*suppressed: \([0-9,]* bytes in [0-9,]* blocks\).*/\1/p' $$log); \
	  if [ $$ok = 1 ]; then \
	    echo "== valgrind: $$p: exit 0, 0 errors, 0 bytes definitely/indirectly/possibly lost, still reachable: $${reach:-0 bytes}, suppressed (mk/valgrind.supp): $${supp:-0 bytes} ($${secs} s)"; \
	  else \
	    echo "== valgrind: $$p FAILED (exit status $$rc, $${secs} s). Program output ($$out), last lines:"; \
	    tail -n 20 $$out; \
	    echo "-- valgrind log ($$log):"; cat $$log; \
	    exit 1; \
	  fi; \
	done

TEST_EXTRA += valgrind

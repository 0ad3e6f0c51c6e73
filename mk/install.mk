# Installing walstore, and checking the installed copy.
#
#   make install [PREFIX=/usr/local] [DESTDIR=]   installs into
#       $(DESTDIR)$(PREFIX)/lib:      libwalstore.so.<version> (the library),
#                                     libwalstore.so.0 -> it (the soname),
#                                     libwalstore.so -> libwalstore.so.0 (for -lwalstore),
#                                     libwalstore.a (the static library);
#       $(DESTDIR)$(PREFIX)/include:  walstore.h, walstore.hpp;
#       $(DESTDIR)$(PREFIX)/lib/pkgconfig/walstore.pc (from walstore.pc.in).
#     INSTALL_LIBDIR, INSTALL_INCLUDEDIR and INSTALL_PKGCONFIGDIR override the
#     directories. Without DESTDIR, as root, ldconfig runs (LDCONFIG=: skips it).
#   make install-strip   the same, with debug info stripped from the libraries.
#   make uninstall       removes what install installed.
#   make install-check   installs into build/install-check/ and builds and runs
#     examples-c/demo.c (and examples-cpp/demo.cpp) against that copy, using
#     only what pkg-config says, linked against the shared and the static
#     library; checks the links, the .pc values, DESTDIR, and that the shared
#     library exports exactly the wal_* functions walstore.h declares.

PREFIX               ?= /usr/local
DESTDIR              ?=
INSTALL_LIBDIR       ?= $(PREFIX)/lib
INSTALL_INCLUDEDIR   ?= $(PREFIX)/include
INSTALL_PKGCONFIGDIR ?= $(INSTALL_LIBDIR)/pkgconfig
INSTALL              ?= install
LDCONFIG             ?= ldconfig
STRIP                ?= strip
PKG_CONFIG           ?= pkg-config

# The [package] version in Cargo.toml.
WALSTORE_VERSION := $(shell awk -F'"' '/^\[/ { pkg = ($$0 == "[package]") } pkg && /^version *=/ { print $$2; exit }' Cargo.toml)
# In walstore.pc, directories under the prefix are written relative to it.
PC_LIBDIR     = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INSTALL_LIBDIR))
PC_INCLUDEDIR = $(patsubst $(PREFIX)/%,$${prefix}/%,$(INSTALL_INCLUDEDIR))
INSTALL_LIBS  = libwalstore.so.$(WALSTORE_VERSION) libwalstore.so.0 libwalstore.so libwalstore.a

.PHONY: install install-strip uninstall install-check install-check-run

# install-check builds the library once, then installs twice without
# rebuilding (INSTALL_NEEDS=).
INSTALL_NEEDS ?= lib

install: $(INSTALL_NEEDS)
	@[ -n "$(WALSTORE_VERSION)" ] || { echo "install: no version found in Cargo.toml"; exit 1; }
	@soname=$$(readelf -d $(LIBDIR)/libwalstore.so | sed -n 's/.*(SONAME).*\[\(.*\)\]$$/\1/p'); \
	[ "$$soname" = libwalstore.so.0 ] || { echo "install: the library's soname is '$$soname', not libwalstore.so.0 (build.rs)"; exit 1; }
	$(INSTALL) -d $(DESTDIR)$(INSTALL_LIBDIR) $(DESTDIR)$(INSTALL_INCLUDEDIR) $(DESTDIR)$(INSTALL_PKGCONFIGDIR)
	$(INSTALL) -m 0755 $(LIBDIR)/libwalstore.so $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.so.$(WALSTORE_VERSION)
	ln -sfn libwalstore.so.$(WALSTORE_VERSION) $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.so.0
	ln -sfn libwalstore.so.0 $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.so
	$(INSTALL) -m 0644 $(LIBDIR)/libwalstore.a $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.a
	$(INSTALL) -m 0644 include/walstore.h include/walstore.hpp $(DESTDIR)$(INSTALL_INCLUDEDIR)/
	@mkdir -p $(BUILD)
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(PC_LIBDIR)|' -e 's|@INCLUDEDIR@|$(PC_INCLUDEDIR)|' \
	    -e 's|@VERSION@|$(WALSTORE_VERSION)|' walstore.pc.in >$(BUILD)/walstore.pc
	$(INSTALL) -m 0644 $(BUILD)/walstore.pc $(DESTDIR)$(INSTALL_PKGCONFIGDIR)/walstore.pc
	@if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && command -v $(LDCONFIG) >/dev/null 2>&1; then \
	  echo "$(LDCONFIG)"; $(LDCONFIG); \
	fi

install-strip: install
	$(STRIP) --strip-debug $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.so.$(WALSTORE_VERSION) $(DESTDIR)$(INSTALL_LIBDIR)/libwalstore.a

uninstall:
	rm -f $(addprefix $(DESTDIR)$(INSTALL_LIBDIR)/,$(INSTALL_LIBS))
	rm -f $(DESTDIR)$(INSTALL_INCLUDEDIR)/walstore.h $(DESTDIR)$(INSTALL_INCLUDEDIR)/walstore.hpp
	rm -f $(DESTDIR)$(INSTALL_PKGCONFIGDIR)/walstore.pc

# ---------------------------------------------------------------------------
# install-check

IC_DIR    := $(BUILD)/install-check
IC_PREFIX := $(IC_DIR)/usr
IC_LIB    := $(IC_PREFIX)/lib
IC_PC     := env PKG_CONFIG_PATH=$(IC_LIB)/pkgconfig PKG_CONFIG_LIBDIR=$(IC_LIB)/pkgconfig $(PKG_CONFIG)
IC_RUN    := env -u LD_LIBRARY_PATH -u RUST_BACKTRACE
# The exact pkg-config answers for the installed copy.
IC_WANT_CFLAGS := -I$(IC_PREFIX)/include
IC_WANT_LIBS   := -L$(IC_LIB) -lwalstore
IC_WANT_STATIC := -L$(IC_LIB) -lwalstore -lgcc_s -lutil -lrt -lpthread -lm -ldl -lc

# pkg-config comes with Debian's build tools but not with bare gcc: install
# it when we can, say SKIP when we cannot.
install-check: lib
	@if ! command -v $(PKG_CONFIG) >/dev/null 2>&1 && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	  echo "== installing pkg-config for install-check"; \
	  { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq pkg-config >/dev/null; } || echo "== apt-get could not install pkg-config"; \
	fi
	@if command -v $(PKG_CONFIG) >/dev/null 2>&1; then \
	  $(MAKE) --no-print-directory install-check-run; \
	else \
	  echo "== SKIP install-check: no $(PKG_CONFIG), and it could not be installed (needs root and apt-get)"; \
	fi

install-check-run:
	rm -rf $(IC_DIR)
	@mkdir -p $(IC_DIR)/src
	$(MAKE) --no-print-directory install PREFIX=$(IC_PREFIX) LDCONFIG=: INSTALL_NEEDS=
	@echo "== install-check: files, links and soname"
	@set -e; cd $(IC_LIB); \
	for f in libwalstore.so.$(WALSTORE_VERSION) libwalstore.a pkgconfig/walstore.pc ../include/walstore.h ../include/walstore.hpp; do \
	  [ -f "$$f" ] && [ ! -L "$$f" ] || { echo "install-check: $$f is not an installed regular file"; exit 1; }; \
	done; \
	[ "$$(readlink libwalstore.so.0)" = libwalstore.so.$(WALSTORE_VERSION) ] || { echo "install-check: libwalstore.so.0 -> $$(readlink libwalstore.so.0)"; exit 1; }; \
	[ "$$(readlink libwalstore.so)" = libwalstore.so.0 ] || { echo "install-check: libwalstore.so -> $$(readlink libwalstore.so)"; exit 1; }; \
	soname=$$(readelf -d libwalstore.so.$(WALSTORE_VERSION) | sed -n 's/.*(SONAME).*\[\(.*\)\]$$/\1/p'); \
	[ "$$soname" = libwalstore.so.0 ] || { echo "install-check: soname '$$soname'"; exit 1; }; \
	cmp -s $(CURDIR)/include/walstore.h ../include/walstore.h && cmp -s $(CURDIR)/include/walstore.hpp ../include/walstore.hpp \
	  || { echo "install-check: installed headers differ from include/"; exit 1; }
	@echo "== install-check: pkg-config answers"
	@set -e; \
	check() { [ "$$2" = "$$3" ] || { echo "install-check: pkg-config $$1 gave '$$2', want '$$3'"; exit 1; }; }; \
	check --modversion "$$($(IC_PC) --modversion walstore)" "$(WALSTORE_VERSION)"; \
	check --cflags "$$(echo $$($(IC_PC) --cflags walstore))" "$(IC_WANT_CFLAGS)"; \
	check --libs "$$(echo $$($(IC_PC) --libs walstore))" "$(IC_WANT_LIBS)"; \
	check "--static --libs" "$$(echo $$($(IC_PC) --static --libs walstore))" "$(IC_WANT_STATIC)"; \
	check --variable=libdir "$$($(IC_PC) --variable=libdir walstore)" "$(IC_LIB)"; \
	check "WAL_VERSION_STRING in walstore.h" "$$(sed -n 's/^#define WAL_VERSION_STRING "\(.*\)"$$/\1/p' include/walstore.h)" "$(WALSTORE_VERSION)"
	@echo "== install-check: the shared library exports exactly walstore.h's wal_* functions"
	@set -e; \
	nm -D --defined-only $(IC_LIB)/libwalstore.so.$(WALSTORE_VERSION) | awk '{ print $$NF }' | sort >$(IC_DIR)/exported.txt; \
	other=$$(grep -v '^wal_' $(IC_DIR)/exported.txt || true); \
	if [ -n "$$other" ]; then echo "install-check: libwalstore.so exports symbols without the wal_ prefix:"; echo "$$other" | sed 's/^/  /'; exit 1; fi; \
	grep -oE '^[a-z][^(]*[ *]wal_[a-z0-9_]+\(' include/walstore.h | sed -E 's/.*[ *](wal_[a-z0-9_]+)\($$/\1/' | sort >$(IC_DIR)/declared.txt; \
	[ -s $(IC_DIR)/declared.txt ] || { echo "install-check: found no declarations in include/walstore.h"; exit 1; }; \
	diff -u $(IC_DIR)/declared.txt $(IC_DIR)/exported.txt >$(IC_DIR)/symbols.diff \
	  || { echo "install-check: exported (+) and declared (-) functions differ:"; cat $(IC_DIR)/symbols.diff; exit 1; }; \
	echo "   $$(wc -l <$(IC_DIR)/exported.txt) functions, all wal_*, all declared"
	@echo "== install-check: demo.c against the installed shared library (pkg-config --cflags --libs, rpath from --variable=libdir)"
	cp examples-c/demo.c examples-cpp/demo.cpp $(IC_DIR)/src/
	cd $(IC_DIR)/src && $(CC) $(CFLAGS_STRICT) demo.c -o $(IC_DIR)/demo-shared \
	    $$($(IC_PC) --cflags --libs walstore) -Wl,-rpath,$$($(IC_PC) --variable=libdir walstore)
	@set -e; \
	resolved=$$($(IC_RUN) ldd $(IC_DIR)/demo-shared | awk '$$1 == "libwalstore.so.0" { print $$3 }'); \
	[ "$$resolved" = "$(IC_LIB)/libwalstore.so.0" ] || { echo "install-check: demo-shared loads libwalstore.so.0 from '$$resolved', want $(IC_LIB)/libwalstore.so.0"; exit 1; }
	$(IC_RUN) $(IC_DIR)/demo-shared >$(IC_DIR)/demo-shared.out
	@tail -n 1 $(IC_DIR)/demo-shared.out | grep -qx 'demo: done' || { echo "install-check: demo-shared did not finish"; exit 1; }
	@echo "== install-check: demo.c against the installed static library (pkg-config --static)"
	cd $(IC_DIR)/src && $(CC) $(CFLAGS_STRICT) demo.c -o $(IC_DIR)/demo-static $$($(IC_PC) --cflags walstore) \
	    $$($(IC_PC) --static --libs walstore | sed 's/-lwalstore\b/-Wl,-Bstatic -lwalstore -Wl,-Bdynamic/')
	@set -e; \
	if readelf -d $(IC_DIR)/demo-static | grep -q 'NEEDED.*libwalstore'; then echo "install-check: demo-static needs libwalstore.so"; exit 1; fi; \
	nm $(IC_DIR)/demo-static | grep -q ' T wal_open$$' || { echo "install-check: wal_open is not linked into demo-static"; exit 1; }
	$(IC_RUN) $(IC_DIR)/demo-static >$(IC_DIR)/demo-static.out
	@tail -n 1 $(IC_DIR)/demo-static.out | grep -qx 'demo: done' || { echo "install-check: demo-static did not finish"; exit 1; }
	@if command -v $(CXX) >/dev/null 2>&1; then \
	  set -e; echo "== install-check: demo.cpp against the installed walstore.hpp and shared library"; \
	  cd $(IC_DIR)/src && $(CXX) -std=c++17 -Wall -Wextra -Wpedantic -Werror demo.cpp -o $(IC_DIR)/demo-cpp \
	    $$($(IC_PC) --cflags --libs walstore) -Wl,-rpath,$$($(IC_PC) --variable=libdir walstore); \
	  $(IC_RUN) $(IC_DIR)/demo-cpp >$(IC_DIR)/demo-cpp.out; \
	  tail -n 1 $(IC_DIR)/demo-cpp.out | grep -qx 'demo: done' || { echo "install-check: demo-cpp did not finish"; exit 1; }; \
	else \
	  echo "== SKIP install-check (C++ part): no C++ compiler '$(CXX)' (make cpp-test installs g++)"; \
	fi
	@echo "== install-check: DESTDIR staging"
	$(MAKE) --no-print-directory install DESTDIR=$(IC_DIR)/destdir PREFIX=/opt/walstore LDCONFIG=: INSTALL_NEEDS=
	@set -e; d=$(IC_DIR)/destdir/opt/walstore; \
	[ "$$(cd $(IC_DIR)/destdir && find . \( -type f -o -type l \) | sort | tr '\n' ' ')" = "./opt/walstore/include/walstore.h ./opt/walstore/include/walstore.hpp ./opt/walstore/lib/libwalstore.a ./opt/walstore/lib/libwalstore.so ./opt/walstore/lib/libwalstore.so.0 ./opt/walstore/lib/libwalstore.so.$(WALSTORE_VERSION) ./opt/walstore/lib/pkgconfig/walstore.pc " ] \
	  || { echo "install-check: DESTDIR holds:"; (cd $(IC_DIR)/destdir && find . \( -type f -o -type l \) | sort); exit 1; }; \
	grep -qx 'prefix=/opt/walstore' $$d/lib/pkgconfig/walstore.pc && grep -qx 'libdir=$${prefix}/lib' $$d/lib/pkgconfig/walstore.pc \
	  || { echo "install-check: the staged walstore.pc does not name the final prefix:"; cat $$d/lib/pkgconfig/walstore.pc; exit 1; }
	@echo "== install-check: passed"

TEST_EXTRA += install-check

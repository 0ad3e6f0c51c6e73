# The snapshot, compaction and index-memory figures (examples/store_figures.rs):
#
#   make figures        1,000,000 entries (FIGURES_ENTRIES scales it), release
#                       build, in a temporary directory under FIGURES_DIR
#                       (default: the system temporary directory).
#   make figures-smoke  the same on 2,000 entries, in `make test`.

FIGURES_ENTRIES ?= 1000000
FIGURES_DIR ?= $(or $(TMPDIR),/tmp)

.PHONY: figures figures-smoke

figures:
	FIGURES_ENTRIES=$(FIGURES_ENTRIES) FIGURES_DIR=$(FIGURES_DIR) \
	  $(CARGO) run --locked --release --example store_figures

figures-smoke:
	FIGURES_ENTRIES=2000 FIGURES_DIR=$(FIGURES_DIR) \
	  $(CARGO) run --locked --example store_figures

TEST_EXTRA += figures-smoke

#!/bin/sh
# ABI guard for libwalstore.so (mk/abi.mk runs it).
#
#   abi/abi.sh dump    LIB HEADER OUT       write LIB's public ABI to OUT
#   abi/abi.sh compare BASELINE LIB HEADER  fail unless LIB's ABI equals
#                                           BASELINE or only adds to it
#
# The ABI is what abidw reads from the library's DWARF (the release profile
# keeps debug info), cut down to the public C interface so that the file is
# the same on every machine, in every directory and with every Rust
# toolchain:
#   - abi/public-interface.suppr drops every function not named wal_* and
#     every type outside walstore::ffi (the Rust internals);
#   - abi/normalize.awk makes the handle types that include/walstore.h
#     declares opaque ("typedef struct X X;") declaration-only, removes
#     translation units left empty, and renames the rest tu-1, tu-2, ...;
#   - abidw leaves out paths, source locations and DT_NEEDED.
#
# The suppressions assume the exported functions take C types only (raw
# pointers, integers, bool, the ffi structs and enums), as cbindgen needs:
# a parameter of a std type such as Option<&T> would be dropped with it.
#
# abidiff's exit status is a bit mask: 1 error, 2 usage error, 4 the ABI
# changed, 8 the change is incompatible. But 4 alone does not mean "only
# additions": a changed parameter size or enumerator value exits 4
# (TOOLCHAIN.md). So any non-zero status fails, except 4 with a report whose
# every summary line counts 0 removed and 0 changed, and which lists no
# deleted ([D]) or changed ([C]) function and no SONAME or architecture
# change. Added enumerators are harmless to abidiff: they exit 0.
set -eu

here=$(cd "$(dirname "$0")" && pwd)

opaque_types() {
    # "typedef struct wal_t wal_t;" -> wal_t, joined with |
    sed -n 's/^typedef struct \([A-Za-z_][A-Za-z0-9_]*\) \1;$/\1/p' "$1" | paste -sd'|' -
}

dump() {
    lib=$1 header=$2 out=$3
    opaque=$(opaque_types "$header")
    [ -n "$opaque" ] || { echo "abi.sh: no opaque handle types found in $header" >&2; exit 1; }
    tmp=$(mktemp)
    trap 'rm -f "$tmp" "$tmp.out"' EXIT
    abidw --no-corpus-path --no-comp-dir-path --no-show-locs --no-elf-needed \
        --type-id-style hash --suppressions "$here/public-interface.suppr" \
        --out-file "$tmp" "$lib"
    awk -v opaque="$opaque" -f "$here/normalize.awk" "$tmp" >"$tmp.out"
    mv "$tmp.out" "$out"
    n=$(grep -c "<elf-symbol name='wal_" "$out" || true)
    [ "$n" -gt 0 ] || { echo "abi.sh: no wal_* symbols in the ABI of $lib" >&2; exit 1; }
}

compare() {
    baseline=$1 lib=$2 header=$3
    [ -f "$baseline" ] || { echo "abi.sh: no baseline $baseline (make abi-baseline)" >&2; exit 1; }
    current=${ABI_OUT:-$(dirname "$lib")/libwalstore.current.abi}
    dump "$lib" "$header" "$current"
    set +e
    abidiff --no-default-suppression "$baseline" "$current" >"$current.report" 2>&1
    rc=$?
    set -e
    cat "$current.report"
    if [ "$rc" -eq 0 ]; then
        echo "== abi-check: the ABI matches $baseline"
        return 0
    fi
    if [ "$rc" -eq 4 ]; then
        # Every "... summary:" line must report 0 Removed and 0 Changed, and
        # there must be at least one such line (the report format is known).
        bad=$(grep 'summary:' "$current.report" | grep -Ev ': 0 Removed(, 0 Changed)?( \([0-9]+ filtered out\))?, [0-9]+ Added' || true)
        bad=$bad$(grep -E '^ *\[[DC]\] |SONAME changed|architecture changed' "$current.report" || true)
        seen=$(grep -c 'summary:' "$current.report" || true)
        if [ -z "$bad" ] && [ "$seen" -gt 0 ]; then
            echo "== abi-check: only additions to the ABI (compatible); 'make abi-baseline' records them"
            return 0
        fi
    fi
    echo "== abi-check FAILED: abidiff exit $rc: the ABI of $lib removes or changes something in $baseline." >&2
    echo "   An incompatible change needs a new soname major; a deliberate compatible one: make abi-baseline" >&2
    exit 1
}

cmd=${1:-}
[ $# -ge 1 ] && shift
case $cmd in
    dump) [ $# -eq 3 ] || { echo "usage: $0 dump LIB HEADER OUT" >&2; exit 2; }; dump "$@" ;;
    compare) [ $# -eq 3 ] || { echo "usage: $0 compare BASELINE LIB HEADER" >&2; exit 2; }; compare "$@" ;;
    *) echo "usage: $0 dump LIB HEADER OUT | compare BASELINE LIB HEADER" >&2; exit 2 ;;
esac

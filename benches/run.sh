#!/usr/bin/env bash
# Runs the walstore benchmark: every workload for every engine, each run in
# its own process (build/bench/bench-<engine> WORKLOAD DIR), after a `sync`.
# `make bench` and `make bench-smoke` call this; see benches/README.md.
#
#   benches/run.sh           all engines at BENCH_SCALE (default 1), report,
#                            chart; publishes to benches/results/ at scale 1
#   benches/run.sh --smoke   walstore only (and the ceilings, W1-CEIL and
#                            DISK-CEIL) at BENCH_SMOKE_SCALE (default 0.002);
#                            fails unless every workload ran and printed
#
# Environment: BENCH_SCALE, BENCH_ENGINES (default "walstore leveldb rocksdb
# lmdb sqlite"), BENCH_DATA (store directories; default build/bench/data),
# BENCH_PUBLISH=0|1 (copy results to benches/results/; default: 1 at scale
# 1), BENCH_ROUNDS (rounds of W1 with W1-CEIL, W1-NONE, W2, W3, W3-8, W4 and
# W6 with DISK-CEIL; default 3), BENCH_PLOT=0 (no chart), BENCH_SEED,
# BENCH_KEYS=seq|random, CC.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=$ROOT/build/bench
CC=${CC:-gcc}
LIBDIR=${LIBDIR:-$ROOT/target/release}
CFLAGS="-O2 -std=c11 -Wall -Wextra -Wpedantic -Werror"
SMOKE=0
[ "${1:-}" = --smoke ] && SMOKE=1

if [ $SMOKE = 1 ]; then
    ENGINES=walstore
    export BENCH_SCALE=${BENCH_SMOKE_SCALE:-0.002}
    RESULTS=$OUT/smoke
else
    ENGINES=${BENCH_ENGINES:-walstore leveldb rocksdb lmdb sqlite}
    export BENCH_SCALE=${BENCH_SCALE:-1}
    RESULTS=$OUT
fi
DATA=${BENCH_DATA:-$OUT/data}
[ $SMOKE = 1 ] && DATA=$OUT/smoke/data
mkdir -p "$RESULTS" "$DATA"

START=$(date +%s)
STAMP=$(date +%Y%m%d-%H%M%S)
TSV=$RESULTS/results-$STAMP.tsv
MD=$RESULTS/results-$STAMP.md
FAILED=()

elapsed() { local s=$(( $(date +%s) - START )); printf '%d:%02d' $((s / 60)) $((s % 60)); }

# ------------------------------------------------------------ the binaries

[ -x "$OUT/bench-walstore" ] && [ -x "$OUT/report" ] || {
    echo "bench: $OUT/bench-walstore or $OUT/report missing: run through make (make bench)" >&2
    exit 1
}

pkg_of() {
    case $1 in
    leveldb) echo libleveldb-dev ;; rocksdb) echo librocksdb-dev ;;
    lmdb) echo liblmdb-dev ;; sqlite) echo libsqlite3-dev ;;
    esac
}
libs_of() {
    case $1 in
    leveldb) echo -lleveldb ;; # LevelDB 1.23 ships no .pc file
    rocksdb) pkg-config --libs rocksdb 2>/dev/null || echo -lrocksdb ;;
    lmdb) echo -llmdb ;; sqlite) echo -lsqlite3 ;;
    esac
}
build_peer() { # engine -> 0 if built; compiler messages in $OUT/build-<engine>.log
    # shellcheck disable=SC2046
    $CC $CFLAGS -I"$ROOT/benches" "$ROOT/benches/bench.c" "$ROOT/benches/eng_$1.c" \
        -o "$OUT/bench-$1" $(libs_of "$1") -lpthread >"$OUT/build-$1.log" 2>&1
}

declare -A SKIP=()
PEERS=()
for e in $ENGINES; do
    case $e in
    walstore) ;;
    leveldb | rocksdb | lmdb | sqlite) PEERS+=("$e") ;;
    *) echo "bench: unknown engine '$e'" >&2; exit 2 ;;
    esac
done
MISSING=()
for e in "${PEERS[@]}"; do build_peer "$e" || MISSING+=("$e"); done
if [ ${#MISSING[@]} -gt 0 ]; then
    pkgs=$(for e in "${MISSING[@]}"; do pkg_of "$e"; done | tr '\n' ' ')
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "== installing $pkgs pkg-config with apt-get (for ${MISSING[*]})"
        if ! { apt-get update -qq && DEBIAN_FRONTEND=noninteractive \
            apt-get install -y -qq $pkgs pkg-config >/dev/null; }; then
            echo "== apt-get could not install $pkgs"
        fi
        why="it does not build after apt-get install (see $OUT/build-ENGINE.log)"
    else
        why="its -dev package ($pkgs) is missing and installing it needs root and apt-get"
    fi
    for e in "${MISSING[@]}"; do
        if ! build_peer "$e"; then
            SKIP[$e]=${why//ENGINE/$e}
            echo "== SKIP $e: ${SKIP[$e]}"
        fi
    done
fi
RUN=()
for e in $ENGINES; do [ -z "${SKIP[$e]:-}" ] && RUN+=("$e"); done

# --------------------------------------------------------- the results file

version_of() {
    case $1 in
    walstore) sed -n 's/^#define WAL_VERSION_STRING "\(.*\)"/\1/p' "$ROOT/include/walstore.h" ;;
    *) dpkg-query -W -f='${Version}' "$(pkg_of "$1")" 2>/dev/null || echo unknown ;;
    esac
}
CPU=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)
FS=$(df -PT "$DATA" 2>/dev/null | awk 'NR == 2 { print $2 }')
{
    echo "# date=$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    echo "# host=nproc:$(nproc);cpu:${CPU:-unknown};kernel:$(uname -r);fs:${FS:-unknown};mem_mb:$(awk '/MemTotal/ { print int($2 / 1024) }' /proc/meminfo)"
    echo "# scale=$BENCH_SCALE;keys=${BENCH_KEYS:-seq};seed=${BENCH_SEED:-42}"
    printf '# versions='; for e in $ENGINES; do printf '%s:%s;' "$e" "$(version_of "$e")"; done; echo
    for e in "${!SKIP[@]}"; do echo "# skipped=$e:${SKIP[$e]}"; done
    echo "# loadavg_start=$(cut -d' ' -f1-3 /proc/loadavg)"
    printf 'engine\tworkload\tops\tbytes\tsecs\tops_per_s\tmb_per_s\tp50_us\tp99_us\tmaxrss_kb\tnote\n'
} >"$TSV"

# ------------------------------------------------------------ the workloads

run() { # engine workload dir [results file] [label]
    # Every run starts with no dirty pages (or unlinks) of an earlier run
    # still to be written back: that writeback would compete with it.
    sync
    echo "== [$(elapsed)] $1 $2${5:-}"
    if ! "$OUT/bench-$1" "$2" "$3" >>"${4:-$TSV}"; then
        echo "== FAIL $1 $2"
        FAILED+=("$1:$2")
        [ $SMOKE = 1 ] && exit 1
    fi
    return 0
}

echo "== walstore benchmark: engines ${RUN[*]}, BENCH_SCALE=$BENCH_SCALE, data in $DATA"
echo "== raw results: $TSV"

# Every workload but LOAD and W5 (a setup, and opens of it) runs ROUNDS
# times, engines back to back in each round, so that each engine meets the
# machine's conditions (another process, writeback, a slow round) as often
# as the others. Every round is kept in the -rounds file; the results file
# gets, per engine and result line, the round with the median ops/s.
ROUNDS=${BENCH_ROUNDS:-3}
[ $SMOKE = 1 ] && ROUNDS=1
RAW=$RESULTS/results-$STAMP-rounds.tsv
grep '^#' "$TSV" >"$RAW"
printf 'round\tengine\tworkload\tops\tbytes\tsecs\tops_per_s\tmb_per_s\tp50_us\tp99_us\tmaxrss_kb\tnote\n' >>"$RAW"

round_run() { # round engine workload dir: one run, appended to the -rounds file
    local r=$1 e=$2 w=$3 dir=$4
    [ "$w" = W4 ] || rm -rf "$dir" # W4 reads the LOAD store
    run "$e" "$w" "$dir" "$RAW.part" " (round $r/$ROUNDS)"
    [ "$w" = W4 ] || rm -rf "$dir"
    if [ -f "$RAW.part" ]; then
        sed "s/^/$r\t/" "$RAW.part" >>"$RAW"
        rm -f "$RAW.part"
    fi
}

rounds() { # workload: runs it ROUNDS times per engine, keeps the medians
    local w=$1 r e row n dir rows engines
    for r in $(seq "$ROUNDS"); do
        # The ceilings (no engine, printed as engine "ceiling") run right
        # before the engines in every round: W1-CEIL (one pwrite per store)
        # before W1, DISK-CEIL (pwrite of 1 MiB + fdatasync, appending and
        # overwriting) before W6. Any bench binary runs them.
        [ "$w" = W1 ] && round_run "$r" walstore W1-CEIL "$DATA/ceiling"
        [ "$w" = W6 ] && round_run "$r" walstore DISK-CEIL "$DATA/disk-ceil"
        for e in "${RUN[@]}"; do
            [ "$w" = W1-NONE ] && [ "$e" != walstore ] && continue # no peer equivalent
            dir=$DATA/$e-$w
            [ "$w" = W4 ] && dir=$DATA/$e-load
            round_run "$r" "$e" "$w" "$dir"
        done
    done
    rows=$w
    [ "$w" = W1 ] && rows="W1-CEIL W1"
    [ "$w" = W6 ] && rows="DISK-APPEND DISK-OVERWRITE W6-store W6-read"
    # The engines that printed any of these rows, in the order they ran.
    engines=$(awk -F'\t' -v rows=" $rows " 'index(rows, " " $3 " ") && !seen[$2]++ { print $2 }' "$RAW")
    for e in $engines; do
        for row in $rows; do
            n=$(awk -F'\t' -v e="$e" -v w="$row" '$2 == e && $3 == w' "$RAW" | wc -l)
            [ "$n" -gt 0 ] || continue
            awk -F'\t' -v e="$e" -v w="$row" '$2 == e && $3 == w' "$RAW" |
                sort -t"$(printf '\t')" -k7,7g | sed -n "$(( (n + 1) / 2 ))p" |
                awk -F'\t' -v OFS='\t' -v n="$n" \
                    '{ $12 = $12 ($12 ~ /;$/ ? "" : ";") "median_of_" n "_rounds"; $1 = ""; sub(/^\t/, ""); print }' >>"$TSV"
        done
    done
}

# Workload by workload, every engine back to back, so that engines are
# compared under the same conditions of the machine.
for e in "${RUN[@]}"; do rm -rf "$DATA/$e-load"; run "$e" LOAD "$DATA/$e-load"; done
for e in "${RUN[@]}"; do run "$e" W5 "$DATA/$e-load"; done
rounds W4
for e in "${RUN[@]}"; do rm -rf "$DATA/$e-load"; done
rounds W1
rounds W1-NONE
rounds W2
rounds W3
rounds W3-8
rounds W6

SECS=$(( $(date +%s) - START ))
{
    echo "# loadavg_end=$(cut -d' ' -f1-3 /proc/loadavg)"
    echo "# elapsed_s=$SECS"
} >>"$TSV"
echo "== [$(elapsed)] all workloads done"

# Every engine that ran must have printed every one of its workloads, and
# the ceiling its W1-CEIL and both DISK-CEIL lines.
for e in "${RUN[@]}" ceiling; do
    want="LOAD W1 W2 W3 W3-8 W4 W5 W6-store W6-read"
    [ "$e" = walstore ] && want="$want W1-NONE W5-snap"
    [ "$e" = ceiling ] && want="W1-CEIL DISK-APPEND DISK-OVERWRITE"
    for w in $want; do
        if ! awk -F'\t' -v e="$e" -v w="$w" '$1 == e && $2 == w { f = 1 } END { exit !f }' "$TSV"; then
            echo "== FAIL $e $w: no result line"
            FAILED+=("$e:$w(no line)")
        fi
    done
done

"$OUT/report" "$TSV" | tee "$MD"
echo "== report: $MD"

if [ $SMOKE = 1 ]; then
    [ ${#FAILED[@]} = 0 ] || exit 1
    echo "== bench-smoke: every workload ran for walstore and the ceilings (BENCH_SCALE=$BENCH_SCALE) in ${SECS}s"
    exit 0
fi

PUBLISH=${BENCH_PUBLISH:-}
if [ -z "$PUBLISH" ]; then
    PUBLISH=0
    awk -v s="$BENCH_SCALE" 'BEGIN { exit !(s + 0 == 1) }' && PUBLISH=1
fi
if [ "$PUBLISH" = 1 ]; then
    mkdir -p "$ROOT/benches/results"
    cp "$TSV" "$ROOT/benches/results/latest.tsv"
    cp "$MD" "$ROOT/benches/results/latest.md"
    echo "== published benches/results/latest.tsv and latest.md"
fi

# ----------------------------------------------------------------- the chart

if [ "${BENCH_PLOT:-1}" = 0 ]; then
    echo "== SKIP chart: BENCH_PLOT=0"
else
    VENV=$OUT/venv
    PNG=$RESULTS/results-$STAMP.png
    why=""
    if ! [ -x "$VENV/bin/python" ] || ! "$VENV/bin/python" -c 'import matplotlib' >/dev/null 2>&1; then
        rm -rf "$VENV"
        if ! command -v python3 >/dev/null 2>&1; then
            why="no python3"
        elif ! python3 -m venv "$VENV" >/dev/null 2>&1; then
            why="'python3 -m venv' does not work (Debian: apt-get install python3-venv)"
        else
            echo "== installing matplotlib into $VENV (first run only)"
            PIP_DISABLE_PIP_VERSION_CHECK=1 "$VENV/bin/python" -m pip install --quiet matplotlib ||
                why="pip could not install matplotlib (no access to PyPI?)"
        fi
    fi
    if [ -n "$why" ]; then
        rm -rf "$VENV"
        echo "== SKIP chart: $why"
    elif "$VENV/bin/python" "$ROOT/benches/plot.py" "$TSV" "$PNG"; then
        echo "== chart: $PNG"
        if [ "$PUBLISH" = 1 ]; then
            cp "$PNG" "$ROOT/benches/results/latest.png"
            echo "== published benches/results/latest.png"
        fi
    else
        echo "== chart failed"
        FAILED+=("chart")
    fi
fi

echo "== make bench took ${SECS}s for the workloads ($(elapsed) in all)"
if [ ${#FAILED[@]} -gt 0 ]; then
    echo "== FAILED: ${FAILED[*]}"
    exit 1
fi

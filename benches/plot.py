"""Chart of a benches/run.sh results TSV: walstore's ratio to the best peer
per workload (left) and ops/s per engine per workload (right).

    python plot.py RESULTS.tsv OUT.png

Same ratio rule as benches/report.c: throughput over the best peer's (for
W5 and W5-snap, the best peer's open time over walstore's); W1-NONE is set
against the peers' W1 and W5-snap against their W5. Needs matplotlib.
"""
import csv
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["LOAD", "W1", "W1-NONE", "W2", "W3", "W3-8", "W4", "W5", "W5-snap",
         "W6-store", "W6-read"]
ENGINES = ["walstore", "leveldb", "rocksdb", "lmdb", "sqlite"]
PEER_WORKLOAD = {"W1-NONE": "W1", "W5-snap": "W5"}


def is_open(w):
    return w.startswith("W5")


def main(src, dst):
    meta, rows = {}, {}
    with open(src) as f:
        lines = [ln for ln in f if ln.strip()]
    for ln in lines:
        if ln.startswith("# "):
            k, _, v = ln[2:].strip().partition("=")
            meta[k] = v
    body = [ln for ln in lines if not ln.startswith("#")]
    for r in csv.DictReader(body, delimiter="\t"):
        rows[(r["engine"], r["workload"])] = r

    ratios = []
    for w in ORDER[1:]:
        ws = rows.get(("walstore", w))
        pw = PEER_WORKLOAD.get(w, w)
        peers = [r for (e, x), r in rows.items() if x == pw and e != "walstore"]
        if not ws or not peers:
            continue
        if is_open(w):
            best = min(peers, key=lambda r: float(r["secs"]))
            ratio = float(best["secs"]) / float(ws["secs"])
        else:
            best = max(peers, key=lambda r: float(r["ops_per_s"]))
            ratio = float(ws["ops_per_s"]) / float(best["ops_per_s"])
        ratios.append((w, ratio, best["engine"]))

    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(15, 5.5))
    if ratios:
        names = [f"{w}\n(vs {e})" for w, _, e in ratios]
        vals = [v for _, v, _ in ratios]
        colors = ["tab:green" if v >= 1 else "tab:red" for v in vals]
        bars = ax1.bar(names, vals, color=colors)
        ax1.axhline(1.0, color="black", linewidth=0.8)
        ax1.set_yscale("log")
        ax1.set_ylabel("walstore / best peer (log; >1 = walstore faster)")
        for b, v in zip(bars, vals):
            ax1.annotate(f"{v:.2g}x", (b.get_x() + b.get_width() / 2, v),
                         ha="center", va="bottom" if v >= 1 else "top", fontsize=8)
        ax1.tick_params(axis="x", labelsize=7)
    ax1.set_title("walstore relative to the best peer per workload")

    workloads = [w for w in ORDER if any(x == w for (_, x) in rows)]
    engines = [e for e in ENGINES if any(x == e for (x, _) in rows)]
    width = 0.8 / max(len(engines), 1)
    for i, e in enumerate(engines):
        xs, ys = [], []
        for j, w in enumerate(workloads):
            r = rows.get((e, w))
            if r:
                v = 1.0 / float(r["secs"]) if is_open(w) else float(r["ops_per_s"])
                xs.append(j + (i - (len(engines) - 1) / 2) * width)
                ys.append(v)
        ax2.bar(xs, ys, width=width, label=e)
    ax2.set_xticks(range(len(workloads)))
    ax2.set_xticklabels(workloads, fontsize=8)
    ax2.set_yscale("log")
    ax2.set_ylabel("ops/s (log; W5: opens/s)")
    ax2.set_title("throughput per engine")
    ax2.legend(fontsize=8)

    host = meta.get("host", "").replace(";", ", ").replace(":", " ")
    fig.suptitle(f"walstore benchmark {meta.get('date', '')}  scale "
                 f"{meta.get('scale', '').split(';')[0]}  ({host})", fontsize=9)
    fig.tight_layout()
    fig.savefig(dst, dpi=110)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS.tsv OUT.png")
    main(sys.argv[1], sys.argv[2])

#!/usr/bin/env python3
"""Turns the JSON of one run of scripts/bench.sh into docs/bench/results.md and docs/bench/ratios.svg.

    python3 scripts/plot_bench.py build/bench/results.json [--out docs/bench] [--time auto|real|cpu]

Every figure comes from the JSON of a single run: medians of the interleaved repetitions (Google
Benchmark's "median" aggregate), and every ratio divides two medians of that same run. Nothing is
typed in by hand. Benchmark names are "<workload>/<case>/<implementation>".

The JSON holds normfuse_bench's results at its top level ("context", "benchmarks") and the other
suites (backward, gradient, half, pipeline) under "suites": their sections and chart panels are
written by scripts/bench_suites.py, which also merges the suites' results into that JSON.

The floor of a case is the faster of its two floor loops (ordinary stores, streaming stores):
"floor/<case>/..." for Normalize and BatchNorm eval, "floor_train/<case>/..." (one read pass,
then y = a * x) for the workloads that compute statistics. "hand" is likewise the faster of the
hand-written loop's two store variants.

Time measure (--time): "auto" (the default) takes CPU time for single-threaded benchmarks and
wall time for the two-thread ones. On a quiet machine the two agree for a single thread; on a
shared one the wall time also counts the time the benchmark waited for a core, which CPU time
leaves out. "real" or "cpu" force one measure everywhere.

Only the Python standard library is used; the chart is SVG written by hand.
"""

import argparse
import datetime
import html
import json
import math
import os
import sys

import bench_suites

PEERS = [("onednn", "oneDNN"), ("libtorch", "libtorch"), ("eigen", "Eigen"), ("xtensor", "xtensor")]
TARGET_PEERS = ("onednn", "libtorch")  # normfuse must be faster than these
WORKLOAD_TITLES = {
    "normalize": "Normalize (torchvision): (x - mean[c]) / std[c]",
    "bn_eval": "BatchNorm eval",
    "bn_train": "BatchNorm training forward (statistics + running statistics + output)",
    "normalize_2t": "Normalize, two threads",
    "bn_eval_2t": "BatchNorm eval, two threads",
    "bn_train_2t": "BatchNorm training forward, two threads",
    "rms_norm": "RMSNorm composed with nf:: expressions (over C of (N, L, C))",
    "layer_norm": "LayerNorm composed with nf:: expressions and reductions (over C of (N, L, C))",
    "group_norm": "GroupNorm(32, 256) composed with nf:: expressions and reductions",
}
CHANNEL_WORKLOADS = ["normalize", "bn_eval", "bn_train", "normalize_2t", "bn_eval_2t", "bn_train_2t"]
DSL_WORKLOADS = ["rms_norm", "layer_norm", "group_norm"]
# A composed expression: at most this times the hand-written fused loop (the faster store variant).
DSL_TARGET = 1.10
# Two threads: at least this much faster than one thread on this case (issue 4).
THREADS_TARGET = 1.30
THREADS_CASE = "nchw_64x256x28x28"
# Targets of issue 4: time / floor at most this (None: no floor target for the workload).
FLOOR_TARGET = {"normalize": 1.05, "bn_eval": 1.05, "bn_train": 1.15,
                "normalize_2t": 1.05, "bn_eval_2t": 1.05, "bn_train_2t": 1.15}
# Issue 16: normfuse built through runtime dispatch without -m flags ("normfuse_dispatch") at most
# this times the same workload built with the suite's flags ("normfuse").
DISPATCH_TARGET = 1.05
DISPATCH_WORKLOADS = ["normalize", "bn_eval", "bn_train", "bn_stats", "normalize_2t", "bn_eval_2t", "bn_train_2t"]
DISPATCH_PAIRS = [("normfuse", "normfuse_dispatch"), ("normfuse_stream16m", "normfuse_dispatch_stream16m")]


def parse_args():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("json", help="output of normfuse_bench --benchmark_out=... --benchmark_out_format=json")
    p.add_argument("--out", default="docs/bench", help="directory for results.md and ratios.svg")
    p.add_argument("--time", choices=["auto", "real", "cpu"], default="auto")
    return p.parse_args()


class Run:
    """The medians of one run, by (workload, case, implementation)."""

    def __init__(self, doc, measure):
        # scripts/bench.sh writes '=' in its own context values as %3D (Google Benchmark rejects it).
        self.context = {k: v.replace("%3D", "=") if k.startswith("nf_") and isinstance(v, str) else v
                        for k, v in doc.get("context", {}).items()}
        self.measure = measure
        self.time = {}      # (w, c, impl) -> seconds
        self.wall = {}      # (w, c, impl) -> seconds of wall time, whatever the measure
        self.cv = {}        # (w, c, impl) -> coefficient of variation of the chosen measure
        self.label = {}     # (w, c, impl) -> label (e.g. the kernel a peer chose)
        self.errors = {}    # (w, c, impl) -> error message (a skipped benchmark)
        self.repetitions = 0
        unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
        for b in doc.get("benchmarks", []):
            name = b.get("run_name", b["name"])
            parts = [p for p in name.split("/") if p not in ("real_time",)]
            if len(parts) < 3:
                continue
            key = (parts[0], parts[1], "/".join(parts[2:]))
            if b.get("error_occurred"):
                self.errors[key] = b.get("error_message", "error")
                continue
            threads = b.get("nf_threads", 1)
            field = self.field_for(threads)
            seconds = b[field] * unit[b.get("time_unit", "ns")]
            if b.get("run_type") == "aggregate":
                agg = b.get("aggregate_name")
                if agg == "median":
                    self.time[key] = seconds
                    self.wall[key] = b["real_time"] * unit[b.get("time_unit", "ns")]
                    if b.get("label"):
                        self.label[key] = b["label"]
                    self.repetitions = max(self.repetitions, int(b.get("repetitions", 0)))
                elif agg == "cv":
                    self.cv[key] = b[field]  # a ratio, in the unit-less field
            elif key not in self.time and b.get("run_type") == "iteration" and "repetitions" not in b:
                self.time[key] = seconds  # a run without repetitions: its only value
                self.wall[key] = b["real_time"] * unit[b.get("time_unit", "ns")]
                if b.get("label"):
                    self.label[key] = b["label"]
        self.errors = {k: v for k, v in self.errors.items() if k not in self.time}

    def field_for(self, threads):
        if self.measure == "real":
            return "real_time"
        if self.measure == "cpu":
            return "cpu_time"
        return "cpu_time" if threads in (None, 1) else "real_time"

    def get(self, w, c, impl):
        return self.time.get((w, c, impl))

    def best(self, w, c, impls):
        """The fastest of several implementations: (seconds, implementation) or (None, None)."""
        found = [(self.time[(w, c, i)], i) for i in impls if (w, c, i) in self.time]
        return min(found) if found else (None, None)

    def cases(self, workload):
        seen = []
        for (w, c, _) in self.time:
            if w == workload and c not in seen:
                seen.append(c)
        return seen


def case_order(case):
    order = ["nchw_32x64x56x56", "nhwc_32x64x56x56", "ncl_100x16x784", "nchw_1x3x224x224", "nchw_64x256x28x28"]
    return order.index(case) if case in order else len(order)


def floor_of(run, workload, case):
    suffix = "_2t" if workload.endswith("_2t") else ""
    family = "floor_train" if workload.startswith("bn_train") else "floor"
    t, impl = run.best(family + suffix, case, ["store", "stream"])
    return t, f"{family}{suffix} ({impl})" if impl else None


# The number formats of the report: shared with bench_suites.py's sections.
ratio = bench_suites.ratio
fmt_ratio = bench_suites.fmt_ratio
fmt_ms = bench_suites.fmt_ms


def channel_rows(run, workload):
    rows = []
    for case in sorted(run.cases(workload), key=case_order):
        nf = run.get(workload, case, "normfuse")
        floor, floor_name = floor_of(run, workload, case)
        hand, hand_impl = run.best(workload, case, ["hand", "hand_nt"])
        peers = {p: run.get(workload, case, p) for p, _ in PEERS}
        best_peer, best_peer_name = None, None
        for p, title in PEERS:
            if peers[p] is not None and (best_peer is None or peers[p] < best_peer):
                best_peer, best_peer_name = peers[p], title
        rows.append(dict(case=case, nf=nf, floor=floor, floor_name=floor_name, hand=hand, hand_impl=hand_impl,
                         peers=peers, best_peer=best_peer, best_peer_name=best_peer_name,
                         nf16=run.get(workload, case, "normfuse_stream16m"),
                         cv=run.cv.get((workload, case, "normfuse"))))
    return rows


def misses_of(workload, row):
    """Targets of issue 4 that normfuse misses on this row: list of strings."""
    out = []
    if row["nf"] is None:
        return out
    limit = FLOOR_TARGET.get(workload)
    r = ratio(row["nf"], row["floor"])
    if limit is not None and r is not None and r > limit:
        out.append(f"{r:.2f}x floor (target <= {limit:.2f}x)")
    for p in TARGET_PEERS:
        rp = ratio(row["nf"], row["peers"].get(p))
        if rp is not None and rp >= 1.0:
            out.append(f"{rp:.2f}x {dict(PEERS)[p]} (target < 1)")
    return out


def machine_lines(run):
    ctx = run.context
    lines = []
    machine = ctx.get("nf_machine") or ctx.get("host_name", "unknown")
    cpus = ctx.get("num_cpus")
    mhz = ctx.get("mhz_per_cpu")
    caches = ctx.get("caches", [])
    cache_text = ", ".join(f"L{c['level']} {c['type'].lower()} {c['size'] // 1024} KiB"
                           + (f" x{c['num_sharing']}" if c.get("num_sharing", 0) > 1 else "")
                           for c in caches) if caches else ""
    lines.append(f"- Machine: {machine}" + (f", {cpus} CPUs" if cpus else "") + (f" at {mhz} MHz" if mhz else "")
                 + (f" ({cache_text} as reported to Google Benchmark)" if cache_text else ""))
    if ctx.get("nf_kernels_isa") or ctx.get("nf_normfuse_arch"):
        lines.append(f"- Instruction set compiled: floors and hand-written loops "
                     f"{ctx.get('nf_kernels_isa', 'unknown')}, normfuse xsimd::{ctx.get('nf_normfuse_arch', 'unknown')}")
    elif not ctx.get("nf_isa_compiled"):
        lines.append("- Instruction set compiled: not recorded by this run (before the suite reported it: "
                     "-march=native, floors and hand-written loops in AVX-512 intrinsics)")
    if ctx.get("nf_isa_compiled"):
        lines.append(f"- Instruction set of every suite's flags (the compiler's predefined macros for "
                     f"{ctx.get('nf_arch_flags', '?')}): {ctx['nf_isa_compiled']}")
    if ctx.get("nf_caches_sysfs"):
        lines.append(f"- Caches of CPU 0 (source: Linux sysfs, /sys/devices/system/cpu/cpu0/cache): {ctx['nf_caches_sysfs']}")
    if ctx.get("nf_last_level_cache"):
        lines.append(f"- Last-level cache as normfuse detects it: {ctx['nf_last_level_cache']}")
    if ctx.get("nf_l3_reported"):
        lines.append(f"- L3 size the OS reports (getconf LEVEL3_CACHE_SIZE, what sysconf gives a library; "
                     f"wrong on some virtual machines): {ctx['nf_l3_reported']}")
    if ctx.get("nf_dispatch_levels_built"):
        cap = ctx.get("nf_dispatch_cap")
        lines.append(f"- normfuse_dispatch: kernels compiled for {ctx['nf_dispatch_levels_built']} by "
                     f"normfuse_add_dispatched_sources, no -m flag; nf::dispatch ran "
                     f"{ctx.get('nf_dispatch_level', 'unknown')}"
                     + (f" (NF_ARCH={cap})" if cap and cap != "unset" else " (NF_ARCH unset)"))
    lines.append(f"- Date: {ctx.get('date', 'unknown')}")
    lines.append(f"- Compiler: {ctx.get('nf_compiler') or ctx.get('nf_cxx', 'unknown')}, flags -O3 {ctx.get('nf_arch_flags', '-march=native')}")
    versions = [f"{title} {ctx[key]}" for key, title in
                [("nf_onednn_version", "oneDNN"), ("nf_libtorch_version", "libtorch"),
                 ("nf_eigen_version", "Eigen"), ("nf_xtensor_version", "xtensor")] if key in ctx]
    lines.append(f"- Peers: {', '.join(versions) if versions else 'none found'}"
                 + (f" (not built: {ctx['nf_missing_peers']})" if ctx.get("nf_missing_peers") else ""))
    if ctx.get("nf_normfuse_revision"):
        lines.append(f"- normfuse: {ctx['nf_normfuse_revision']}")
    if run.time:
        lines.append(f"- normfuse threading API: {ctx.get('nf_threads_api', 'unknown')}; streaming-store threshold "
                     f"the library chose: {ctx.get('nf_streaming_threshold_bytes', 'no such setting')} bytes")
    load_before = ctx.get("nf_load_before")
    load_after = ctx.get("nf_load_after")
    load = ctx.get("load_avg")
    if load_before or load:
        lines.append(f"- Load average (1, 5, 15 min) before the run: {load_before or load}"
                     + (f"; after: {load_after}" if load_after else ""))
    if run.time:
        lines.append(f"- Method of normfuse_bench: {run.repetitions or '?'} repetitions per benchmark, random interleaving "
                     f"{ctx.get('nf_interleaving', 'on')}, min time {ctx.get('nf_min_time', '?')} s per repetition; "
                     f"medians; time measure: {'CPU time for one thread, wall time for two' if run.measure == 'auto' else run.measure + ' time'}")
    else:
        lines.append("- normfuse_bench (the forward suite) was not part of this run (scripts/bench.sh --only)")
    if ctx.get("library_build_type") == "debug":
        lines.append("- Note: Debian's Google Benchmark library is a debug build (its own loop, not the code measured).")
    return lines


def busy_warning(run):
    ctx = run.context
    text = ctx.get("nf_load_before") or ""
    try:
        one_minute = float(text.split()[0])
    except (ValueError, IndexError):
        loads = ctx.get("load_avg") or []
        one_minute = loads[0] if loads else 0.0
    cpus = ctx.get("num_cpus") or 1
    if one_minute > 0.5 * cpus:
        return (f"> **The machine was busy** (1-minute load {one_minute:.1f} on {cpus} CPUs when the run began): "
                "other processes competed for cores and memory bandwidth. Ratios of the same run are still "
                "comparable with each other, but absolute times and ratios near a target are less certain; "
                "the CV column shows the spread of normfuse's repetitions.")
    return None


def write_markdown(run, path, chart, doc=None):
    out = []
    out.append("# normfuse benchmark results")
    out.append("")
    docs = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "docs")
    method = os.path.relpath(os.path.join(docs, "performance.md"), os.path.dirname(os.path.abspath(path)))
    out.append("Generated by `scripts/plot_bench.py` from the JSON of one run of `scripts/bench.sh`; do not edit by "
               f"hand. Method: [docs/performance.md]({method})."
               + (" Chart: [ratios.svg](ratios.svg)." if chart else " No chart: the run has no floor to divide by."))
    out.append("")
    out.extend(machine_lines(run))
    out.append("")
    warning = busy_warning(run)
    if warning:
        out.append(warning)
        out.append("")
    out.append("Ratios are time / time, medians of the same run: below 1 normfuse is faster. **Bold**: a target "
               "is missed; the targets of each suite are stated next to its table."
               + (" normfuse_bench: the targets of issue 4" if run.time else ""))
    if run.time:
        out[-1] += (" (normfuse <= 1.05x floor for Normalize and BatchNorm eval, <= 1.15x the "
                    "training floor for BatchNorm training, faster than oneDNN and libtorch, a composed expression <= "
                    f"{DSL_TARGET:.2f}x the hand-written loop, two threads >= {THREADS_TARGET:.2f}x faster than one "
                    f"on `{THREADS_CASE}`).")
    out.append("")

    all_misses = []
    for workload in CHANNEL_WORKLOADS:
        rows = channel_rows(run, workload)
        if not rows:
            continue
        out.append(f"## {WORKLOAD_TITLES[workload]}")
        out.append("")
        limit = FLOOR_TARGET.get(workload)
        has16 = any(r["nf16"] is not None for r in rows)
        head = ["case", "normfuse ms", "CV", "floor ms", "normfuse / floor", "hand / floor", "normfuse / hand"]
        if has16:
            head.append("normfuse_stream16m / floor")
        head += [f"normfuse / {title}" for _, title in PEERS] + ["normfuse / best peer"]
        out.append("| " + " | ".join(head) + " |")
        out.append("|" + "---|" * len(head))
        for r in rows:
            cells = [f"`{r['case']}`", fmt_ms(r["nf"]),
                     f"{r['cv'] * 100:.1f}%" if r["cv"] is not None else "–",
                     fmt_ms(r["floor"]) + (f" ({r['floor_name'].split('(')[1][:-1]})" if r["floor_name"] else ""),
                     fmt_ratio(ratio(r["nf"], r["floor"]), limit),
                     fmt_ratio(ratio(r["hand"], r["floor"])) + (" (nt)" if r["hand_impl"] == "hand_nt" else ""),
                     fmt_ratio(ratio(r["nf"], r["hand"]))]
            if has16:
                cells.append(fmt_ratio(ratio(r["nf16"], r["floor"]), limit))
            for p, _ in PEERS:
                cells.append(fmt_ratio(ratio(r["nf"], r["peers"][p]), 0.9999 if p in TARGET_PEERS else None))
            cells.append(fmt_ratio(ratio(r["nf"], r["best_peer"]))
                         + (f" ({r['best_peer_name']})" if r["best_peer_name"] else ""))
            out.append("| " + " | ".join(cells) + " |")
            for m in misses_of(workload, r):
                all_misses.append(f"{workload} `{r['case']}`: {m}")
        out.append("")
        labels = sorted({(impl, run.label[(w, c, impl)]) for (w, c, impl) in run.label
                         if w == workload and impl in dict(PEERS)})
        if labels:
            out.append("Peer kernels: " + "; ".join(f"{dict(PEERS)[i]}: `{l}`" for i, l in labels))
            out.append("")

    threads_rows = [(w, c) for w in ("normalize", "bn_eval", "bn_train") for c in sorted(run.cases(w + "_2t"),
                                                                                         key=case_order)]
    if threads_rows:
        out.append("## Two threads against one")
        out.append("")
        out.append(f"Speed-up: one thread's median wall time / two threads' (above 1: two threads are faster; wall "
                   f"time for both, so the times here may differ from the one-thread tables above, which use CPU "
                   f"time). Target: at least {THREADS_TARGET:.2f}x for normfuse on `{THREADS_CASE}`. The floor "
                   f"column is the same ratio for the floor loop itself (the faster of its store variants with each "
                   f"thread count): what the machine's memory gives a second thread.")
        out.append("")
        out.append("| workload | case | normfuse 1 thread ms | normfuse 2 threads ms | normfuse speed-up | "
                   "floor speed-up | hand speed-up |")
        out.append("|---|---|---|---|---|---|---|")
        def fastest(w, case, impls):
            found = [run.wall[(w, case, i)] for i in impls if (w, case, i) in run.wall]
            return min(found) if found else None

        for w, case in threads_rows:
            t1, t2 = fastest(w, case, ["normfuse"]), fastest(w + "_2t", case, ["normfuse"])
            family = "floor_train" if w == "bn_train" else "floor"
            f1, f2 = fastest(family, case, ["store", "stream"]), fastest(family + "_2t", case, ["store", "stream"])
            h1, h2 = fastest(w, case, ["hand", "hand_nt"]), fastest(w + "_2t", case, ["hand", "hand_nt"])
            speed = ratio(t1, t2)
            target = case == THREADS_CASE
            cell = fmt_ratio(speed)
            if target and speed is not None and speed < THREADS_TARGET:
                cell = f"**{speed:.2f}**"
                all_misses.append(f"{w} two threads `{case}`: {speed:.2f}x faster than one thread (target >= "
                                  f"{THREADS_TARGET:.2f}x; the floor loop: {fmt_ratio(ratio(f1, f2))}x)")
            out.append(f"| {w} | `{case}` | {fmt_ms(t1)} | {fmt_ms(t2)} | {cell} | {fmt_ratio(ratio(f1, f2))} | "
                       f"{fmt_ratio(ratio(h1, h2))} |")
        out.append("")

    stats_cases = sorted(run.cases("bn_stats"), key=case_order)
    if stats_cases:
        out.append("## BatchNorm statistics alone (per-channel mean and variance, one read)")
        out.append("")
        out.append("The statistics pass of `bn_train` in isolation: `nf::moments<N, H, W>` against the read floor "
                   "(one pass summing x in float) and two hand-written loops: shifted sums in double (the library's "
                   "arithmetic) and shifted float partial sums over short blocks folded into double.")
        out.append("")
        out.append("| case | normfuse ms | read floor ms | normfuse / read | hand f64 / read | hand f32 blocks / read | "
                   "normfuse / hand f64 |")
        out.append("|---|---|---|---|---|---|---|")
        for case in stats_cases:
            nf = run.get("bn_stats", case, "normfuse")
            read = run.get("floor_read", case, "sum")
            hand = run.get("bn_stats", case, "hand")
            f32 = run.get("bn_stats", case, "hand_f32blocks")
            out.append(f"| `{case}` | {fmt_ms(nf)} | {fmt_ms(read)} | {fmt_ratio(ratio(nf, read))} | "
                       f"{fmt_ratio(ratio(hand, read))} | {fmt_ratio(ratio(f32, read))} | {fmt_ratio(ratio(nf, hand))} |")
        out.append("")

    for workload in DSL_WORKLOADS:
        cases = run.cases(workload)
        if not cases:
            continue
        out.append(f"## {WORKLOAD_TITLES[workload]}")
        out.append("")
        out.append("| case | implementation | ms | CV | / floor | / training floor | / hand | / libtorch |")
        out.append("|---|---|---|---|---|---|---|---|")
        for case in cases:
            floor, _ = run.best("floor", case, ["store", "stream"])
            tfloor, _ = run.best("floor_train", case, ["store", "stream"])
            hand, hand_impl = run.best(workload, case, ["hand", "hand_nt"])
            torch = run.get(workload, case, "libtorch")
            impls = [i for (w, c, i) in run.time if w == workload and c == case]
            order = ["normfuse_dsl", "normfuse_moments", "normfuse_layer", "hand", "hand_nt", "libtorch"]
            for impl in sorted(impls, key=lambda i: order.index(i) if i in order else len(order)):
                t = run.get(workload, case, impl)
                cv = run.cv.get((workload, case, impl))
                to_hand = ratio(t, hand)
                missed = impl == "normfuse_dsl" and to_hand is not None and to_hand > DSL_TARGET
                if missed:
                    all_misses.append(f"{workload} `{case}` composed expression: {to_hand:.2f}x the hand-written "
                                      f"loop (target <= {DSL_TARGET:.2f}x)")
                hand_cell = fmt_ratio(to_hand, DSL_TARGET if impl == "normfuse_dsl" else None)
                out.append(f"| `{case}` | {impl} | {fmt_ms(t)} | {f'{cv * 100:.1f}%' if cv is not None else '–'} | "
                           f"{fmt_ratio(ratio(t, floor))} | {fmt_ratio(ratio(t, tfloor))} | "
                           f"{hand_cell} | {fmt_ratio(ratio(t, torch))} |")
        out.append("")
        out.append(f"hand: the faster of its store variants; floor: y = a * x over the same bytes; training floor: "
                   f"one read pass, then y = a * x.")
        out.append("")

    out.extend(dispatch_lines(run, all_misses))

    out.extend(bench_suites.report_lines(doc or {}, Run, run.measure, all_misses))

    floor_cases = []
    for (w, c, _) in run.time:
        if w == "floor" and c not in floor_cases:
            floor_cases.append(c)
    if floor_cases:
        out.append("## Floors of normfuse_bench")
        out.append("")
        out.append("| case | MB in + out | store ms | stream ms | memcpy ms | train store ms | train stream ms | "
                   "read ms | floor GB/s | memcpy / floor |")
        out.append("|---|---|---|---|---|---|---|---|---|---|")
    for case in floor_cases:
        store, stream = run.get("floor", case, "store"), run.get("floor", case, "stream")
        memcpy = run.get("floor", case, "memcpy")
        floor, _ = run.best("floor", case, ["store", "stream"])
        size = case_bytes(case)
        gbs = f"{2 * size / floor / 1e9:.1f}" if size and floor else "–"
        out.append(f"| `{case}` | {2 * size / 1e6:.1f} | {fmt_ms(store)} | {fmt_ms(stream)} | {fmt_ms(memcpy)} | "
                   f"{fmt_ms(run.get('floor_train', case, 'store'))} | {fmt_ms(run.get('floor_train', case, 'stream'))} | "
                   f"{fmt_ms(run.get('floor_read', case, 'sum'))} | {gbs} | {fmt_ratio(ratio(memcpy, floor))} |")
    for suffix in ["_2t"] if floor_cases else []:
        cases2 = [c for (w, c, i) in run.time if w == "floor" + suffix and i == "store"]
        for case in cases2:
            out.append(f"| `{case}` (2 threads) | {2 * case_bytes(case) / 1e6:.1f} | "
                       f"{fmt_ms(run.get('floor' + suffix, case, 'store'))} | "
                       f"{fmt_ms(run.get('floor' + suffix, case, 'stream'))} | – | "
                       f"{fmt_ms(run.get('floor_train' + suffix, case, 'store'))} | "
                       f"{fmt_ms(run.get('floor_train' + suffix, case, 'stream'))} | – | – | – |")
    if floor_cases:
        out.append("")

    out.append("## Targets missed")
    out.append("")
    if all_misses:
        out.extend(f"- {m}" for m in all_misses)
    else:
        out.append("None in this run.")
    out.append("")
    if run.errors:
        out.append("## Benchmarks that failed or were skipped")
        out.append("")
        for (w, c, i), msg in sorted(run.errors.items()):
            out.append(f"- `{w}/{c}/{i}`: {msg}")
        out.append("")
    with open(path, "w") as f:
        f.write("\n".join(out))


def dispatch_lines(run, all_misses):
    """The table of issue 16: normfuse_dispatch / normfuse per case, medians of this run."""
    rows = []
    for workload in DISPATCH_WORKLOADS:
        for case in sorted(run.cases(workload), key=case_order):
            for native, dispatched in DISPATCH_PAIRS:
                tn, td = run.get(workload, case, native), run.get(workload, case, dispatched)
                if tn is None or td is None:
                    continue
                rows.append((workload, case, native, dispatched, tn, td))
    if not rows:
        return []
    ctx = run.context
    out = ["## Runtime dispatch against the suite's flags (issue 16)", ""]
    out.append(f"The same workloads and cases as normfuse, built twice in this binary: with the suite's flags "
               f"({ctx.get('nf_arch_flags', '-march=native')}, xsimd::{ctx.get('nf_normfuse_arch', '?')}), and as a "
               f"consumer without -m flags builds them (`normfuse_add_dispatched_sources`, called through "
               f"`nf::dispatch`; the level that ran is in the level column). Ratio: dispatched / native median "
               f"(above 1: the dispatched build is slower); target: at most {DISPATCH_TARGET:.2f}x when both run the "
               f"same instruction set. One thread: CPU time; two threads: wall time.")
    out.append("")
    out.append("| workload | case | native | dispatched | level | native ms | dispatched ms | dispatched / native "
               "| CV native | CV dispatched |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    ratios = []
    for workload, case, native, dispatched, tn, td in rows:
        r = ratio(td, tn)
        level = run.label.get((workload, case, dispatched), "?")
        # The target compares like with like: a level capped by NF_ARCH below the suite's own
        # instruction set is shown, not counted.
        same_isa = f"xsimd::{ctx.get('nf_normfuse_arch', '?')})" in level
        if same_isa:
            ratios.append(r)
        else:
            level += " (not the native ISA: not counted)"
        cvn, cvd = run.cv.get((workload, case, native)), run.cv.get((workload, case, dispatched))
        if same_isa and r is not None and r > DISPATCH_TARGET:
            all_misses.append(f"{workload} `{case}` {dispatched}: {r:.2f}x {native} (target <= "
                              f"{DISPATCH_TARGET:.2f}x, issue 16; level {level})")
        out.append(f"| {workload} | `{case}` | {native} | {dispatched} | {level} | {fmt_ms(tn)} | {fmt_ms(td)} | "
                   f"{fmt_ratio(r, DISPATCH_TARGET if same_isa else None)} | {f'{cvn * 100:.1f}%' if cvn is not None else '–'} | "
                   f"{f'{cvd * 100:.1f}%' if cvd is not None else '–'} |")
    out.append("")
    valid = [r for r in ratios if r is not None and r > 0]
    if valid:
        geo = math.exp(sum(math.log(r) for r in valid) / len(valid))
        out.append(f"Over the {len(valid)} rows of the same instruction set: geometric mean {geo:.3f}, lowest {min(valid):.2f}, highest "
                   f"{max(valid):.2f}.")
        out.append("")
    return out


def case_bytes(case):
    """Bytes of one tensor of a case, from its name ("nchw_32x64x56x56" -> 32*64*56*56*4)."""
    try:
        dims = case.split("_")[1].split("x")
        return math.prod(int(d) for d in dims) * 4
    except (IndexError, ValueError):
        return 0


# --- The chart ----------------------------------------------------------------------------------

COLORS = {"normfuse": "#d62728", "normfuse_stream16m": "#f2a0a0", "hand": "#7f7f7f", "onednn": "#1f77b4", "libtorch": "#ff7f0e",
          "eigen": "#2ca02c", "xtensor": "#9467bd", "normfuse_dsl": "#a50f15", "normfuse_moments": "#e377c2",
          "normfuse_layer": "#8c564b", "hand_f32blocks": "#bcbd22"}
TITLES = {"normfuse": "normfuse", "normfuse_stream16m": "normfuse, streaming threshold 16 MiB", "hand": "hand-written", "onednn": "oneDNN", "libtorch": "libtorch",
          "eigen": "Eigen Tensor", "xtensor": "xtensor", "normfuse_dsl": "normfuse (DSL)",
          "normfuse_moments": "normfuse (nf::moments + DSL)", "normfuse_layer": "normfuse (layer)",
          "hand_f32blocks": "hand-written, f32 block sums"}


def chart_groups(run):
    groups = []
    for workload in CHANNEL_WORKLOADS:
        for r in channel_rows(run, workload):
            if r["floor"] is None:
                continue
            bars = []
            for impl in ["normfuse", "normfuse_stream16m", "hand", "onednn", "libtorch", "eigen", "xtensor"]:
                t = {"hand": r["hand"], "normfuse": r["nf"], "normfuse_stream16m": r["nf16"]}.get(impl, r["peers"].get(impl))
                if t is not None:
                    bars.append((impl, t / r["floor"]))
            groups.append((f"{workload} {r['case']}", FLOOR_TARGET.get(workload), bars))
    for case in sorted(run.cases("bn_stats"), key=case_order):
        read = run.get("floor_read", case, "sum")
        if read is None:
            continue
        bars = [(impl, run.get("bn_stats", case, impl) / read) for impl in ["normfuse", "hand", "hand_f32blocks"]
                if run.get("bn_stats", case, impl) is not None]
        groups.append((f"bn_stats {case} (/ read floor)", None, bars))
    for workload in DSL_WORKLOADS:
        for case in run.cases(workload):
            floor, _ = run.best("floor", case, ["store", "stream"])
            if floor is None:
                continue
            bars = []
            for impl in ["normfuse_dsl", "normfuse_moments", "normfuse_layer", "hand", "libtorch"]:
                t = run.best(workload, case, ["hand", "hand_nt"])[0] if impl == "hand" else run.get(workload, case, impl)
                if t is not None:
                    bars.append((impl, t / floor))
            groups.append((f"{workload} {case}", None, bars))
    return groups


def write_svg(run, path, doc=None):
    panels = [("Forward (normfuse_bench): time / floor", chart_groups(run))]
    panels += bench_suites.chart_panels(doc or {}, Run, run.measure)
    panels = [(t, g) for t, g in panels if g]
    groups = [g for _, gs in panels for g in gs]
    bar_h, gap, left, right = 9, 10, 300, 40
    width = 1000
    plot_w = width - left - right
    lo = 0.5
    biggest = max([v for _, _, bars in groups for _, v in bars] + [2.0]) * 1.05
    nice = [m * 10 ** e for e in range(0, 6) for m in (1, 2, 5)]
    hi = next(v for v in nice if v >= biggest)

    def x_of(v):
        v = min(max(v, lo), hi)
        return left + plot_w * (math.log10(v) - math.log10(lo)) / (math.log10(hi) - math.log10(lo))

    COLORS.update(bench_suites.COLORS)
    TITLES.update(bench_suites.TITLES)
    used = []
    for _, _, bars in groups:
        for impl, _ in bars:
            if impl not in used:
                used.append(impl)
    # Legend entries, wrapped into rows that fit the width.
    legend, lx, ly = [], left, 44
    for impl in used:
        w = 14 + 6.5 * len(TITLES.get(impl, impl)) + 16
        if lx + w > width - right and lx > left:
            lx, ly = left, ly + 16
        legend.append((impl, lx, ly))
        lx += w
    top = ly + 26
    panel_h = 22
    height = top + sum(len(b) * bar_h + gap for _, _, b in groups) + panel_h * len(panels) + 40
    s = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
         f'font-family="sans-serif" font-size="11">',
         '<rect width="100%" height="100%" fill="white"/>',
         f'<text x="{left}" y="18" font-size="14" font-weight="bold">Time / reference (log scale; 1 = the '
         f'floor loop over the same bytes, or the panel\'s reference; lower is better)</text>',
         f'<text x="{left}" y="34" fill="#555">{html.escape(run.context.get("nf_machine", ""))} '
         f'{html.escape(run.context.get("date", ""))}; medians of interleaved repetitions</text>']
    for impl, lx, ly in legend:
        s.append(f'<rect x="{lx:.0f}" y="{ly}" width="10" height="10" fill="{COLORS.get(impl, "#000")}"/>')
        s.append(f'<text x="{lx + 14:.0f}" y="{ly + 9}">{html.escape(TITLES.get(impl, impl))}</text>')
    # grid
    ticks = [t for t in [0.5] + nice if lo <= t <= hi]
    for t in ticks:
        x = x_of(t)
        s.append(f'<line x1="{x:.1f}" y1="{top - 6}" x2="{x:.1f}" y2="{height - 30}" stroke="'
                 f'{"#000" if t == 1 else "#ddd"}" stroke-width="{1.5 if t == 1 else 1}"/>')
        s.append(f'<text x="{x:.1f}" y="{height - 16}" text-anchor="middle">{t:g}x</text>')
    y = top
    first_of_panel = {id(gs[0]): title for title, gs in panels}
    for group in groups:
        title, target, bars = group
        if id(group) in first_of_panel:
            s.append(f'<rect x="0" y="{y - 2}" width="{width}" height="{panel_h - 4}" fill="#f3f3f3"/>')
            s.append(f'<text x="8" y="{y + 12}" font-weight="bold">{html.escape(first_of_panel[id(group)])}</text>')
            y += panel_h
        gh = len(bars) * bar_h
        s.append(f'<text x="{left - 8}" y="{y + gh / 2 + 4:.1f}" text-anchor="end">{html.escape(title)}</text>')
        if target:
            x = x_of(target)
            s.append(f'<line x1="{x:.1f}" y1="{y - 2}" x2="{x:.1f}" y2="{y + gh + 2}" stroke="#d62728" '
                     f'stroke-dasharray="3,2"/>')
        for impl, v in bars:
            x0, x1 = x_of(lo), x_of(v)
            s.append(f'<rect x="{x0:.1f}" y="{y}" width="{max(x1 - x0, 1):.1f}" height="{bar_h - 1}" '
                     f'fill="{COLORS.get(impl, "#000")}"><title>{html.escape(TITLES.get(impl, impl))}: '
                     f'{v:.2f}x floor</title></rect>')
            s.append(f'<text x="{x1 + 3:.1f}" y="{y + bar_h - 1.5}" font-size="8" fill="#333">{v:.2f}</text>')
            y += bar_h
        y += gap
    s.append(f'<text x="{left}" y="{height - 2}" fill="#555" font-size="10">dashed red: the target '
             f'of each group (its panel says which); generated by scripts/plot_bench.py</text>')
    s.append("</svg>")
    with open(path, "w") as f:
        f.write("\n".join(s) + "\n")


def main():
    args = parse_args()
    with open(args.json) as f:
        doc = json.load(f)
    run = Run(doc, args.time)
    # The peers' versions, when only the other suites ran (their own contexts have them).
    for suite in doc.get("suites", {}).values():
        for key, value in suite.get("context", {}).items():
            if key.endswith("_version") and key.startswith("nf_"):
                run.context.setdefault(key, value)
    if not run.time and not doc.get("suites"):
        sys.exit(f"plot_bench.py: no benchmark results in {args.json}")
    os.makedirs(args.out, exist_ok=True)
    # A run without floors (a filtered one, e.g. only normfuse against normfuse_dispatch) has no chart.
    chart = bool(chart_groups(run)) or any(g for _, g in bench_suites.chart_panels(doc, Run, run.measure))
    write_markdown(run, os.path.join(args.out, "results.md"), chart, doc)
    written = [os.path.join(args.out, "results.md")]
    if chart:
        write_svg(run, os.path.join(args.out, "ratios.svg"), doc)
        written.append(os.path.join(args.out, "ratios.svg"))
    print(f"plot_bench.py: wrote {' and '.join(written)}")


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""The benchmark suites besides normfuse_bench: collects their results into one JSON, and writes their
sections of docs/bench/results.md and their panels of ratios.svg (called by scripts/plot_bench.py).

    python3 scripts/bench_suites.py collect --out results.json --context "k=v,..." \\
        [--gbench SUITE FILE LOAD_BEFORE LOAD_AFTER STATUS]... \\
        [--text SUITE FILE LOAD_BEFORE LOAD_AFTER STATUS COMMAND]...

scripts/bench.sh calls `collect` after its run. Suites that write Google Benchmark JSON (main,
backward, gradient) are kept as they are; the drivers of their own (half, pipeline) print Markdown
tables, which are parsed here into {caption, columns, rows}, by their column names, so that a new
column or row in a driver does not break the report. The suite "main" (normfuse_bench) stays at the
top level of the file ("context", "benchmarks"), as before; the others go under "suites".

Every ratio in the report divides two medians of the same suite's run. Only the Python standard
library is used.
"""

import argparse
import datetime
import glob
import json
import os
import re

# --- Collecting ---------------------------------------------------------------------------------


def decode_context(text):
    """scripts/bench.sh's "k=v,k=v" context (with '=' in values written %3D)."""
    out = {}
    for item in text.split(","):
        if "=" in item:
            k, v = item.split("=", 1)
            out[k] = v.replace("%3D", "=")
    return out


def sysfs_caches():
    """The caches of CPU 0 as Linux describes them (/sys/devices/system/cpu/cpu0/cache)."""
    found = []
    for index in sorted(glob.glob("/sys/devices/system/cpu/cpu0/cache/index*")):
        try:
            def read(name):
                with open(os.path.join(index, name)) as f:
                    return f.read().strip()
            level, kind, size = read("level"), read("type"), read("size")
            shared = read("shared_cpu_list")
        except OSError:
            continue
        short = {"Data": "d", "Instruction": "i", "Unified": ""}.get(kind, kind)
        found.append(f"L{level}{short} {size} (CPUs {shared})")
    return "; ".join(found)


def parse_tables(text):
    """The Markdown tables of a driver's output: [{caption, columns, rows}], and the other lines."""
    tables, lines, caption, current = [], [], "", None
    for raw in text.splitlines():
        line = raw.strip()
        if line.startswith("|") and line.endswith("|"):
            cells = [c.strip() for c in line[1:-1].split("|")]
            if current is None:
                current = {"caption": caption, "columns": cells, "rows": []}
                tables.append(current)
            elif all(re.fullmatch(r":?-+:?", c) for c in cells):
                continue
            else:
                current["rows"].append(cells)
            continue
        current = None
        if line:
            caption = line
            lines.append(line)
    return tables, lines


def suite_doc(doc, before, after, status):
    doc["load_before"], doc["load_after"], doc["exit_status"] = before, after, int(status)
    return doc


def collect(args):
    common = decode_context(args.context)
    common["date"] = datetime.datetime.now().astimezone().isoformat(timespec="seconds")
    caches = sysfs_caches()
    if caches:
        common["nf_caches_sysfs"] = caches
    result = {"context": dict(common), "benchmarks": [], "suites": {}}
    for suite, path, before, after, status in args.gbench or []:
        try:
            with open(path) as f:
                doc = json.load(f)
        except (OSError, ValueError) as e:
            doc = {"context": {}, "benchmarks": [], "error": f"no JSON from the run ({e})"}
        ctx = {k: v.replace("%3D", "=") if k.startswith("nf_") and isinstance(v, str) else v
               for k, v in doc.get("context", {}).items()}
        ctx.update({k: v for k, v in common.items() if k not in ctx})
        ctx["nf_load_before"], ctx["nf_load_after"] = before, after
        doc["context"] = ctx
        if suite == "main":
            result["context"] = ctx
            result["benchmarks"] = doc.get("benchmarks", [])
            result["main_exit_status"] = int(status)
        else:
            result["suites"][suite] = suite_doc(doc, before, after, status)
    for suite, path, before, after, status, command in args.text or []:
        try:
            with open(path) as f:
                text = f.read()
        except OSError as e:
            text = f"(no output: {e})"
        tables, lines = parse_tables(text)
        result["suites"][suite] = suite_doc({"command": command, "tables": tables, "lines": lines},
                                            before, after, status)
    with open(args.out, "w") as f:
        f.write(dump(result) + "\n")
    print(f"bench_suites.py: wrote {args.out} (main: {len(result['benchmarks'])} results; "
          f"{', '.join(result['suites']) or 'no other suite'})")


def dump(value, indent=0):
    """JSON with one benchmark (or table row) per line: small diffs between runs."""
    pad = " " * indent
    if isinstance(value, dict):
        if not value:
            return "{}"
        items = [f'{pad} {json.dumps(k)}: {dump(v, indent + 1)}' for k, v in value.items()]
        return "{\n" + ",\n".join(items) + "\n" + pad + "}"
    if isinstance(value, list) and value and all(isinstance(v, (dict, list)) for v in value):
        if all(isinstance(v, dict) and "rows" in v for v in value):  # tables: one row per line
            return "[\n" + ",\n".join(pad + "  " + dump(v, indent + 2) for v in value) + "\n" + pad + "]"
        return "[\n" + ",\n".join(pad + "  " + json.dumps(v) for v in value) + "\n" + pad + "]"
    return json.dumps(value)


# --- Reporting (called by plot_bench.py) ---------------------------------------------------------

# Issue 13: backward at most this times the backward floor (None: no floor target stated).
BW_FLOOR_TARGET = {"bn_train_bw": 1.20, "ln_bw": 1.20, "rms_bw": 1.20}
# Issue 13: normfuse faster than these peers on these workloads.
BW_PEER_TARGET = {"bn_train_bw": ("onednn", "libtorch")}
BW_TITLES = {"bn_train_bw": "BatchNorm training backward", "bn_eval_bw": "BatchNorm eval backward",
             "ln_bw": "LayerNorm backward", "rms_bw": "RMSNorm backward", "gn_bw": "GroupNorm backward",
             "in_bw": "InstanceNorm backward"}
PEER_TITLES = {"onednn": "oneDNN", "libtorch": "libtorch"}
GRADIENT_TARGET = 1.15  # issue 13: nf::gradient at most this times the hand-written backward
HALF_TARGET = 1.10      # issue 12: bf16 / fp16 layers at most this times the floor, ahead of libtorch
PIPELINE_TARGET = 1.10  # issue 12: the uint8 pipeline at most this times the floor, ahead of the peers
LAYOUT_TARGET = 1.30    # issue 12: the layout change at most this times the floor of the same bytes


def ratio(a, b):
    return a / b if a is not None and b is not None and b > 0 else None


def fmt_ratio(r, over=None):
    if r is None:
        return "–"
    s = f"{r:.2f}"
    return f"**{s}**" if over is not None and r > over else s


def fmt_ms(t):
    if t is None:
        return "–"
    ms = t * 1e3
    return f"{ms:.3f}" if ms < 1 else f"{ms:.2f}" if ms < 100 else f"{ms:.0f}"


def _num(text):
    try:
        return float(text)
    except (TypeError, ValueError):
        return None


def _load_line(doc):
    status = doc.get("exit_status", 0)
    text = (f"Load average (1, 5, 15 min) before this suite: {doc.get('load_before', '?')}; after: "
            f"{doc.get('load_after', '?')}.")
    if status:
        text += f" **The program exited with status {status}** (a failed result check, or a crash)."
    return text


def _gb_time(run, key):
    return run.time.get(key)


def backward_rows(run):
    """(workload, case, normfuse, floor, {peer: t}, cv) for every backward workload of the run."""
    rows = []
    workloads = []
    for (w, c, i) in run.time:
        if w != "floor_bw" and w not in workloads:
            workloads.append(w)
    order = list(BW_TITLES)
    workloads.sort(key=lambda w: order.index(w) if w in order else len(order))
    for w in workloads:
        for case in sorted(run.cases(w)):
            floor, _ = run.best("floor_bw", case, ["store", "stream"])
            rows.append(dict(workload=w, case=case, nf=run.get(w, case, "normfuse"), floor=floor,
                             peers={p: run.get(w, case, p) for p in ("onednn", "libtorch")},
                             cv=run.cv.get((w, case, "normfuse"))))
    return rows


def backward_lines(doc, make_run, measure, misses):
    run = make_run(doc, measure)
    out = ["## Backward passes (normfuse_bench_backward, issue 13)", ""]
    out.append("Time / time, medians of the same run of `normfuse_bench_backward` (benchmarks/backward/). The "
               "backward floor of a shape: one pass reading x and dy (two sums), then one pass reading x and dy and "
               "writing dx, the faster of ordinary and streaming stores. normfuse: `nn::functional::*_backward` (dx, "
               "dweight, dbias from saved statistics); oneDNN `batch_normalization_backward`; libtorch "
               "`at::native_*_backward` (allocates its outputs at every call; InstanceNorm as PyTorch runs it, BatchNorm "
               "of (1, N*C, H, W)). BatchNorm eval: dx through the running statistics, which need no reduction for dx "
               "(the two-pass floor is not its least cost: below 1 is possible); InstanceNorm and GroupNorm (32 groups): "
               "NCHW only, from the statistics their forward saved; oneDNN 2.x has neither. Every dx is checked against "
               "a double computation after the timed loop. One thread (oneDNN: OMP_NUM_THREADS=1). Time measure: "
               "CPU time (--time real: wall time). Targets of issue 13: "
               "BatchNorm training <= 1.20x the floor and faster than oneDNN and libtorch; LayerNorm and RMSNorm <= "
               "1.20x the floor; **bold**: missed.")
    out.append("")
    out.append(_load_line(doc))
    out.append("")
    rows = backward_rows(run)
    if not rows:
        out += ["No backward results in this run.", ""]
        return out
    out.append("| layer | case | normfuse ms | CV | floor ms | normfuse / floor | target | normfuse / oneDNN | "
               "normfuse / libtorch |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w, limit = r["workload"], BW_FLOOR_TARGET.get(r["workload"])
        peers_needed = BW_PEER_TARGET.get(w, ())
        target = []
        if limit:
            target.append(f"<= {limit:.2f}x floor")
        if peers_needed:
            target.append("< 1 vs " + ", ".join(PEER_TITLES[p] for p in peers_needed))
        rf = ratio(r["nf"], r["floor"])
        if limit and rf is not None and rf > limit:
            misses.append(f"{BW_TITLES.get(w, w)} `{r['case']}`: {rf:.2f}x the backward floor (target <= {limit:.2f}x, "
                          "issue 13)")
        cells = []
        for p in ("onednn", "libtorch"):
            rp = ratio(r["nf"], r["peers"][p])
            need = p in peers_needed
            cells.append(fmt_ratio(rp, 0.9999 if need else None))
            if need and rp is not None and rp >= 1.0:
                misses.append(f"{BW_TITLES.get(w, w)} `{r['case']}`: {rp:.2f}x {PEER_TITLES[p]} (target < 1, issue 13)")
        cv = f"{r['cv'] * 100:.1f}%" if r["cv"] is not None else "–"
        out.append(f"| {BW_TITLES.get(w, w)} | `{r['case']}` | {fmt_ms(r['nf'])} | {cv} | {fmt_ms(r['floor'])} | "
                   f"{fmt_ratio(rf, limit)} | {'; '.join(target) or '–'} | {cells[0]} | {cells[1]} |")
    out.append("")
    measured = {r["workload"] for r in rows}
    absent = [t for w, t in BW_TITLES.items() if w not in measured]
    if absent:
        out.append(f"Not measured by this run (normfuse_bench_backward has no such case): {', '.join(absent)}.")
        out.append("")
    labels = sorted({(i, l) for (w, c, i), l in run.label.items() if i in ("onednn", "libtorch")})
    if labels:
        out.append("Peer kernels: " + "; ".join(f"{PEER_TITLES[i]}: `{l}`" for i, l in labels))
        out.append("")
    if run.errors:
        out.append("Failed or skipped: " + "; ".join(f"`{'/'.join(k)}`: {m}" for k, m in sorted(run.errors.items())))
        out.append("")
    return out


def gradient_pairs(doc, measure):
    """{math: (hand seconds, derived seconds)} from normfuse_bench_gradient's medians."""
    unit = {"ns": 1e-9, "us": 1e-6, "ms": 1e-3, "s": 1.0}
    times = {}
    for b in doc.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        name = b.get("run_name", b["name"]).split("/")[0]
        field = "real_time" if measure == "real" else "cpu_time"
        t = b[field] * unit[b.get("time_unit", "ns")]
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") == "median":
            times[name] = t
        elif b.get("run_type") == "iteration" and "repetitions" not in b:
            times.setdefault(name, t)
    pairs = {}
    for name in times:
        if name.endswith("_hand"):
            math_name = name[: -len("_hand")]
            pairs[math_name] = (times[name], times.get(math_name + "_derived"))
    return pairs


def gradient_lines(doc, measure, misses):
    out = ["## Gradients derived by nf::gradient (normfuse_bench_gradient, issue 13)", ""]
    out.append("The input gradient of RMSNorm and LayerNorm over C of (16, 512, 768), derived by `nf::gradient` from "
               "the DSL's forward expression, against a hand-written fused backward of the same math "
               "(benchmarks/gradient.cpp), medians of the same run. Target: derived <= "
               f"{GRADIENT_TARGET:.2f}x hand-written; **bold**: missed.")
    out.append("")
    out.append(_load_line(doc))
    out.append("")
    pairs = gradient_pairs(doc, measure)
    if not pairs:
        return out + ["No gradient results in this run.", ""]
    out.append("| math | hand-written ms | nf::gradient ms | nf::gradient / hand-written |")
    out.append("|---|---|---|---|")
    for name, (hand, derived) in pairs.items():
        r = ratio(derived, hand)
        if r is not None and r > GRADIENT_TARGET:
            misses.append(f"nf::gradient {name}: {r:.2f}x the hand-written backward (target <= {GRADIENT_TARGET:.2f}x, "
                          "issue 13)")
        out.append(f"| {name} | {fmt_ms(hand)} | {fmt_ms(derived)} | {fmt_ratio(r, GRADIENT_TARGET)} |")
    out.append("")
    return out


def _table_rows(table):
    cols = table["columns"]
    return [dict(zip(cols, row)) for row in table["rows"] if len(row) == len(cols)]


def _col(row, *prefixes):
    for k, v in row.items():
        if any(k.lower().startswith(p) for p in prefixes):
            return v
    return None


def half_groups(doc):
    """{(workload, type, shape): {implementation: (seconds, max error text)}} in the driver's order."""
    groups = {}
    for table in doc.get("tables", []):
        if "implementation" not in table["columns"] or "workload" not in table["columns"]:
            continue
        for row in _table_rows(table):
            # Thread CPU time (the driver since it reports it), else the older drivers' wall time.
            t = _num(_col(row, "cpu ms", "median ms"))
            if t is None:
                continue
            key = (row["workload"], row.get("type", "?"), _col(row, "tokens") or "?")
            groups.setdefault(key, {})[row["implementation"]] = (t * 1e-3, _col(row, "max error"))
    return groups


def _best(impls, prefix):
    found = [(t, name) for name, (t, _) in impls.items() if name.lower().startswith(prefix)]
    return min(found) if found else (None, None)


def half_lines(doc, misses):
    out = ["## bf16 / fp16 LayerNorm and RMSNorm (normfuse_bench_half, issue 12)", ""]
    out.append("[tokens, hidden] in, weight, bias and out all 16-bit, float accumulation "
               "(benchmarks/half/half_layers.cpp; command: `" + doc.get("command", "?").split("/")[-1] + "`). Thread "
               "CPU time, medians over the driver's rounds, each round running every implementation once in a rotated "
               "order. Floor: y = x * w + b over the same bytes (2 read + 2 written per element), the faster of "
               f"ordinary and streaming stores. Targets of issue 12: normfuse <= {HALF_TARGET:.2f}x the floor and "
               "faster than libtorch; **bold**: missed. Error: the largest over the checked rows, in units in the "
               "last place of the 16-bit type (against a double computation).")
    out.append("")
    out.append(_load_line(doc))
    out.append("")
    groups = half_groups(doc)
    if not groups:
        return out + ["No results from the half driver in this run.", ""]
    out.append("| layer | type | tokens x hidden | normfuse ms | floor ms | normfuse / floor | normfuse / libtorch | "
               "best hand-written / floor | normfuse error (units) |")
    out.append("|---|---|---|---|---|---|---|---|---|")
    for (w, ty, shape), impls in groups.items():
        nf, nf_name = _best(impls, "normfuse")
        floor, _ = _best(impls, "floor")
        torch, _ = _best(impls, "libtorch")
        hand, _ = _best(impls, "hand")
        rf, rt = ratio(nf, floor), ratio(nf, torch)
        if rf is not None and rf > HALF_TARGET:
            misses.append(f"{w} {ty} {shape}: {rf:.2f}x the floor (target <= {HALF_TARGET:.2f}x, issue 12)")
        if rt is not None and rt >= 1:
            misses.append(f"{w} {ty} {shape}: {rt:.2f}x libtorch (target < 1, issue 12)")
        err = impls[nf_name][1] if nf_name else None
        out.append(f"| {w} | {ty} | {shape} | {fmt_ms(nf)} | {fmt_ms(floor)} | {fmt_ratio(rf, HALF_TARGET)} | {fmt_ratio(rt, 0.9999)} | "
                   f"{fmt_ratio(ratio(hand, floor))} | {err or '–'} |")
    out.append("")
    return out


def pipeline_tables(doc, measure):
    """The batch table and the layout-change tables: [(caption, {implementation: seconds})]."""
    col = "median ms" if measure == "real" else "median thread cpu ms"
    found = []
    for table in doc.get("tables", []):
        if "implementation" not in table["columns"]:
            continue
        times = {}
        for row in _table_rows(table):
            t = _num(_col(row, col)) if measure != "real" else _num(row.get("median ms"))
            if t is not None:
                times[row["implementation"]] = t * 1e-3
        found.append((table["caption"], times))
    return found


def _floor(times):
    found = [t for name, t in times.items() if name.startswith("floor")]
    return min(found) if found else None


def pipeline_lines(doc, measure, misses):
    out = ["## Image preprocessing pipeline and layout change (normfuse_bench_pipeline, issue 12)", ""]
    what = "median wall time" if measure == "real" else "median thread CPU time (every implementation on one thread)"
    out.append("uint8 (N, H, W, 3) -> float (N, 3, H, W), `(x / 255 - mean) / std` (benchmarks/pipeline/pipeline.cpp; "
               f"command: `{doc.get('command', '?').split('/')[-1]}`), {what} over the driver's rounds, each running "
               "every implementation once in a rotated order. Floor: the same bytes without the layout change (read 1 "
               "byte, write 4 per element), the faster of ordinary and streaming stores. `normfuse regular`: "
               "streaming stores turned off. Targets of issue 12: the pipeline <= "
               f"{PIPELINE_TARGET:.2f}x the floor and faster than OpenCV's `blobFromImages` and libtorch's "
               f"ToTensor + Normalize; the layout change (NHWC -> NCHW) <= {LAYOUT_TARGET:.2f}x the floor of the same "
               "bytes; **bold**: missed.")
    out.append("")
    out.append(_load_line(doc))
    out.append("")
    tables = pipeline_tables(doc, measure)
    if not tables:
        return out + ["No results from the pipeline driver in this run.", ""]
    for caption, times in tables:
        floor = _floor(times)
        layout = caption.lower().startswith("layout change")
        limit = LAYOUT_TARGET if layout else PIPELINE_TARGET
        out.append(f"{caption}" if caption else "")
        out.append("")
        out.append("| implementation | ms | / floor | normfuse / this |")
        out.append("|---|---|---|---|")
        for name, t in times.items():
            rf = ratio(t, floor)
            targeted = (name == "normfuse" or name == "normfuse BGR (strided view)" or
                        (layout and name == "normfuse NHWC -> NCHW"))
            if targeted and rf is not None and rf > limit:
                misses.append(f"pipeline {name} ({caption.split(';')[0]}): {rf:.2f}x the floor (target <= "
                              f"{limit:.2f}x, issue 12)")
            ours = None
            if not name.startswith(("normfuse", "floor")):
                ours = times.get("normfuse BGR (strided view)" if "BGR" in name else "normfuse")
            rp = ratio(ours, t)
            if rp is not None and rp >= 1:
                misses.append(f"pipeline: normfuse {rp:.2f}x {name} (target < 1, issue 12)")
            out.append(f"| {name} | {fmt_ms(t)} | {fmt_ratio(rf, limit if targeted else None)} | {fmt_ratio(rp, 0.9999)} |")
        out.append("")
    captions = {caption for caption, _ in tables}
    checks = [l for l in doc.get("lines", []) if l not in captions and ("differ" in l or "difference" in l or "bits" in l)]
    if checks:
        out.append("Checks printed by the driver: " + "; ".join(checks))
        out.append("")
    return out


def report_lines(doc, make_run, measure, misses):
    """The sections of every suite besides main present in the merged JSON."""
    suites = doc.get("suites", {})
    out = []
    if "backward" in suites:
        out += backward_lines(suites["backward"], make_run, measure, misses)
    if "gradient" in suites:
        out += gradient_lines(suites["gradient"], measure, misses)
    if "half" in suites:
        out += half_lines(suites["half"], misses)
    if "pipeline" in suites:
        out += pipeline_lines(suites["pipeline"], measure, misses)
    return out


def chart_panels(doc, make_run, measure):
    """[(panel title, [(group title, target, [(implementation key, ratio)])])] for ratios.svg."""
    suites = doc.get("suites", {})
    panels = []
    if "backward" in suites:
        run = make_run(suites["backward"], measure)
        groups = []
        for r in backward_rows(run):
            if r["floor"] is None:
                continue
            bars = [(k, t / r["floor"]) for k, t in [("normfuse", r["nf"])] + list(r["peers"].items()) if t]
            groups.append((f"{r['workload']} {r['case']}", BW_FLOOR_TARGET.get(r["workload"]), bars))
        if groups:
            panels.append(("Backward: time / backward floor (target 1.20x for BatchNorm training, LayerNorm, RMSNorm)",
                           groups))
    if "gradient" in suites:
        groups = [(f"{name} dx", GRADIENT_TARGET, [("nf_gradient", derived / hand)])
                  for name, (hand, derived) in gradient_pairs(suites["gradient"], measure).items() if hand and derived]
        if groups:
            panels.append((f"nf::gradient: time / hand-written backward (target {GRADIENT_TARGET:.2f}x)", groups))
    if "half" in suites:
        groups = []
        for (w, ty, shape), impls in half_groups(suites["half"]).items():
            floor, _ = _best(impls, "floor")
            if not floor:
                continue
            bars = []
            for key, prefix in (("normfuse", "normfuse"), ("hand", "hand"), ("libtorch", "libtorch")):
                t, _ = _best(impls, prefix)
                if t:
                    bars.append((key, t / floor))
            groups.append((f"{w} {ty} {shape.replace(' ', '')}", HALF_TARGET, bars))
        if groups:
            panels.append((f"bf16 / fp16 layers: time / floor (target {HALF_TARGET:.2f}x)", groups))
    if "pipeline" in suites:
        groups = []
        keys = {"normfuse": "normfuse", "normfuse regular": "normfuse_regular",
                "normfuse BGR (strided view)": "normfuse_bgr", "opencv_blobFromImages": "opencv",
                "opencv_blobFromImages BGR swapRB": "opencv_bgr", "libtorch_totensor_normalize": "libtorch",
                "normfuse NHWC -> NCHW": "normfuse", "normfuse NHWC -> NHWC": "normfuse_same_layout",
                "normfuse NHWC -> NCHW regular": "normfuse_regular"}
        for caption, times in pipeline_tables(suites["pipeline"], measure):
            floor = _floor(times)
            if not floor:
                continue
            layout = caption.lower().startswith("layout change")
            bars = [(keys[name], t / floor) for name, t in times.items() if name in keys]
            m = re.search(r"(\d+ x \d+ x \d+ x \d+)", caption)
            title = ("layout change " if layout else "uint8 pipeline ") + (m.group(1).replace(" ", "") if m else "")
            groups.append((title, LAYOUT_TARGET if layout else PIPELINE_TARGET, bars))
        if groups:
            panels.append((f"Image pipeline (target {PIPELINE_TARGET:.2f}x) and layout change (target "
                           f"{LAYOUT_TARGET:.2f}x): time / floor", groups))
    return panels


COLORS = {"nf_gradient": "#a50f15", "opencv": "#17becf", "opencv_bgr": "#9edae5", "normfuse_regular": "#f2a0a0",
          "normfuse_bgr": "#8c564b", "normfuse_same_layout": "#e377c2"}
TITLES = {"nf_gradient": "nf::gradient", "opencv": "OpenCV blobFromImages", "opencv_bgr": "OpenCV, BGR swapRB",
          "normfuse_regular": "normfuse, streaming stores off", "normfuse_bgr": "normfuse, BGR strided view",
          "normfuse_same_layout": "normfuse, no layout change"}


# --- Self-test (ctest scripts.bench_report; well under a second) ----------------------------------


def _gb(name, ms):
    """A median aggregate of Google Benchmark's JSON (times in ms)."""
    return {"name": name + "_median", "run_name": name, "run_type": "aggregate", "aggregate_name": "median",
            "repetitions": 3, "threads": 1, "real_time": ms, "cpu_time": ms, "time_unit": "ms"}


SAMPLE_HALF = """| workload | type | tokens x hidden | implementation | CPU ms (median) | wall ms (median) | GB/s (4 B/elem, CPU) | / floor | max error (units) |
|---|---|---|---|---|---|---|---|---|
| rms_norm | bf16 | 8 x 4096 | floor (store) | 1.000 | 3.000 | 1 | 1 | 0.50 |
| rms_norm | bf16 | 8 x 4096 | floor (stream) | 0.800 | 3.000 | 1 | 1 | 0.50 |
| rms_norm | bf16 | 8 x 4096 | normfuse functional::rms_norm | 1.000 | 3.000 | 1 | 1 | 0.50 |
| rms_norm | bf16 | 8 x 4096 | libtorch composed (LlamaRMSNorm) | 10.000 | 3.000 | 1 | 1 | 1.26 |
"""

SAMPLE_PIPELINE = """normfuse against the float reference: 0 of 12 elements differ (RGB), 0 (BGR)

batch 1 x 2 x 2 x 3 uint8 -> float NCHW, 3 rounds, 1 thread; load average before 0 0 0, after 0 0 0

| implementation | median ms | GB/s (5 bytes per element) | / floor | median thread CPU ms | / floor (CPU) |
|---|---:|---:|---:|---:|---:|
| normfuse | 9.000 | 1 | 1 | 1.050 | 1 |
| floor_store | 9.000 | 1 | 1 | 1.000 | 1 |
| floor_stream | 9.000 | 1 | 1 | 1.200 | 1 |
| opencv_blobFromImages | 9.000 | 1 | 1 | 0.700 | 1 |

layout change, float 1 x 2 x 2 x 64, (x - m) / s; 0 values differ from the same layout's; load average 0 0 0

| implementation | median ms | / floor | median thread CPU ms | / floor (CPU) |
|---|---:|---:|---:|---:|
| normfuse NHWC -> NCHW | 9.000 | 1 | 2.800 | 1 |
| floor_store | 9.000 | 1 | 2.000 | 1 |
"""


def selftest():
    """Collects and reports a small sample whose ratios are known, and checks the report."""
    import shutil
    import sys
    import tempfile

    here = os.path.dirname(os.path.abspath(__file__))
    tmp = tempfile.mkdtemp(prefix="nf_bench_report_")
    try:
        backward = {"context": {}, "benchmarks": [
            _gb("floor_bw/nchw_a/store", 10.0), _gb("floor_bw/nchw_a/stream", 12.0),
            _gb("bn_train_bw/nchw_a/normfuse", 13.0), _gb("bn_train_bw/nchw_a/onednn", 20.0),
            _gb("bn_train_bw/nchw_a/libtorch", 12.0), _gb("gn_bw/nchw_a/normfuse", 30.0)]}
        gradient = {"context": {}, "benchmarks": [_gb("rms_hand", 2.0), _gb("rms_derived", 2.2)]}
        files = {"backward.json": json.dumps(backward), "gradient.json": json.dumps(gradient),
                 "half.txt": SAMPLE_HALF, "pipeline.txt": SAMPLE_PIPELINE}
        for name, text in files.items():
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)
        j = lambda name: os.path.join(tmp, name)  # noqa: E731
        # In this process (an interpreter start costs more than the report).
        import contextlib
        import io
        sys.path.insert(0, here)
        import plot_bench
        with contextlib.redirect_stdout(io.StringIO()):
            collect(argparse.Namespace(
                out=j("r.json"), context="nf_machine=sample,nf_arch_flags=-march%3Dx",
                gbench=[["backward", j("backward.json"), "0 0 0", "0 0 0", "0"],
                        ["gradient", j("gradient.json"), "0 0 0", "0 0 0", "0"]],
                text=[["half", j("half.txt"), "0 0 0", "0 0 0", "0", "half"],
                      ["pipeline", j("pipeline.txt"), "0 0 0", "0 0 0", "1", "pipeline"]]))
            argv, sys.argv = sys.argv, ["plot_bench.py", j("r.json"), "--out", tmp]
            try:
                plot_bench.main()
            finally:
                sys.argv = argv
        with open(j("results.md")) as f:
            md = f.read()
        with open(j("ratios.svg")) as f:
            svg = f.read()
        want = [
            # backward: floor = min(10, 12); 13 / 10 over the 1.20 target, 13 / 20 and 13 / 12 against the peers
            "| 13.00 | – | 10.00 | **1.30** | <= 1.20x floor; < 1 vs oneDNN, libtorch | 0.65 | **1.08** |",
            "GroupNorm backward | `nchw_a` | 30.00 | – | 10.00 | 3.00 | – |",  # no target: not bold
            "| rms | 2.00 | 2.20 | 1.10 |",  # 1.10 <= 1.15: met
            "| rms_norm | bf16 | 8 x 4096 | 1.00 | 0.800 | **1.25** | 0.10 |",  # floor = stream
            "| normfuse | 1.05 | 1.05 | – |",  # thread CPU time, floor = store (1.0)
            "| opencv_blobFromImages | 0.700 | 0.70 | **1.50** |",  # normfuse slower than OpenCV: missed
            "| normfuse NHWC -> NCHW | 2.80 | **1.40** | – |",  # layout target 1.30
            "**The program exited with status 1**",
            "Not measured by this run (normfuse_bench_backward has no such case): BatchNorm eval backward",
        ]
        missing = [w for w in want if w not in md]
        misses = md.split("## Targets missed", 1)[-1].count("\n- ")
        problems = [f"not in results.md: {w}" for w in missing]
        if misses != 5:
            problems.append(f"{misses} targets missed listed, want 5")
        if svg.count('font-weight="bold">') != 1 + 4 or svg.count('stroke-dasharray="3,2"') != 5:
            problems.append("ratios.svg: want a title, 4 panels and 5 target lines (none for GroupNorm)")
        if problems:
            print("\n".join(problems) + "\n--- results.md ---\n" + md)
            return 1
        print("bench_suites.py selftest: ok")
        return 0
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main():
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    c = sub.add_parser("collect", help="merge the suites' results into one JSON")
    c.add_argument("--out", required=True)
    c.add_argument("--context", default="")
    c.add_argument("--gbench", nargs=5, action="append", metavar=("SUITE", "FILE", "BEFORE", "AFTER", "STATUS"))
    c.add_argument("--text", nargs=6, action="append",
                   metavar=("SUITE", "FILE", "BEFORE", "AFTER", "STATUS", "COMMAND"))
    sub.add_parser("selftest", help="report a small sample with known ratios and check the report")
    args = p.parse_args()
    if args.command == "collect":
        collect(args)
    elif args.command == "selftest":
        raise SystemExit(selftest())


if __name__ == "__main__":
    main()

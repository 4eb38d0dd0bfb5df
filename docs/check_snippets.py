#!/usr/bin/env python3
"""Checks that every code block of docs/guide.md comes from a compiled example.

Usage (from anywhere; paths are relative to the repository root):

    python3 docs/check_snippets.py                    # text checks only: fast, no compiler
    python3 docs/check_snippets.py --compile-errors   # also recompile the misuses the guide shows
    python3 docs/check_snippets.py --run              # also build and run the programs whose output is quoted

Every fenced code block of the guide must follow (with only blank lines between) one marker:

  <!-- snippet: docs/examples/FILE.cpp#NAME -->
      The block must equal the region of FILE.cpp between the lines `// [snippet NAME]` and
      `// [/snippet]`, after removing the indentation common to the region's lines. Without
      `#NAME`, the region is the file's unnamed one, `// [snippet]` ... `// [/snippet]`.

  <!-- output: PATH.cpp [COMPILER] -->
      The block is (part of) what the program prints. Checked with --run: the program is built
      with COMPILER (default: --cxx) and run; the block must appear in its standard output.

  <!-- compiler-output: PATH.cpp MACRO [COMPILER] -->
      The block is (trimmed) output of COMPILER (default: --cxx) for PATH.cpp built with -DMACRO,
      which must fail.
      The file must mention `defined(MACRO)`. Checked with --compile-errors: every line of the
      block, split at `...` (an elision), must be found in the compiler's output, in order, after
      quote characters and the line:column numbers of normfuse's headers are normalized on both
      sides (those of the example itself must match).

The regions of every docs/examples/*.cpp must also be well formed (closed, not nested, names
unique per file). Exits with 1 and a list of problems if anything fails, with 0 otherwise.
"""

import argparse
import difflib
import os
import re
import shlex
import subprocess
import sys
import tempfile
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

FENCE = re.compile(r"^(\s*)(`{3,}|~{3,})(.*)$")
MARKER = re.compile(r"^\s*<!--\s*(snippet|output|compiler-output):\s*(.*?)\s*-->\s*$")
REGION_OPEN = re.compile(r"^\s*//\s*\[snippet(?:\s+([A-Za-z0-9_.-]+))?\]\s*$")
REGION_CLOSE = re.compile(r"^\s*//\s*\[/snippet\]\s*$")

DEFAULT_FLAGS = "-std=c++20 -O2 -march=native -Wall -Wextra -Wpedantic -Werror"


class Problems:
    def __init__(self):
        self.items = []

    def add(self, where, message):
        self.items.append(f"{where}: {message}")


def read_lines(path):
    with open(path, encoding="utf-8") as f:
        return f.read().split("\n")


def parse_regions(path, problems):
    """Returns {name or '': text} for the snippet regions of one source file."""
    regions = {}
    rel = os.path.relpath(path, ROOT)
    current, start, body = None, 0, []
    for number, line in enumerate(read_lines(path), 1):
        opened = REGION_OPEN.match(line)
        if opened:
            if current is not None:
                problems.add(f"{rel}:{number}", f"region opened inside region '{current}' (line {start})")
            current, start, body = opened.group(1) or "", number, []
            continue
        if REGION_CLOSE.match(line):
            if current is None:
                problems.add(f"{rel}:{number}", "`// [/snippet]` without an open region")
            else:
                if current in regions:
                    problems.add(f"{rel}:{start}", f"second region named '{current}'")
                regions[current] = textwrap.dedent("\n".join(body))
                current = None
            continue
        if current is not None:
            body.append(line)
    if current is not None:
        problems.add(f"{rel}:{start}", f"region '{current}' is never closed")
    return regions


def parse_guide(path, problems):
    """Returns a list of (marker kind, argument, block text, line number of the block)."""
    lines = read_lines(path)
    rel = os.path.relpath(path, ROOT)
    blocks = []
    pending = None  # (kind, argument, line number) of the last marker not yet used
    i = 0
    while i < len(lines):
        line = lines[i]
        marker = MARKER.match(line)
        if marker:
            if pending:
                problems.add(f"{rel}:{pending[2]}", "marker not followed by a code block")
            pending = (marker.group(1), marker.group(2), i + 1)
            i += 1
            continue
        fence = FENCE.match(line)
        if fence:
            indent, ticks = fence.group(1), fence.group(2)
            closing = re.compile(r"^\s*" + re.escape(ticks[0]) + "{" + str(len(ticks)) + r",}\s*$")
            body = []
            j = i + 1
            while j < len(lines) and not closing.match(lines[j]):
                body.append(lines[j][len(indent):] if lines[j].startswith(indent) else lines[j])
                j += 1
            if j == len(lines):
                problems.add(f"{rel}:{i + 1}", "code block is never closed")
            if pending is None:
                problems.add(f"{rel}:{i + 1}", "code block without a snippet/output marker before it")
            else:
                blocks.append((pending[0], pending[1], "\n".join(body), i + 1))
            pending = None
            i = j + 1
            continue
        if line.strip() and pending:
            problems.add(f"{rel}:{pending[2]}", "marker not followed by a code block")
            pending = None
        i += 1
    if pending:
        problems.add(f"{rel}:{pending[2]}", "marker not followed by a code block")
    return blocks


def check_snippet(argument, text, where, regions_of, problems):
    path, _, name = argument.partition("#")
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        problems.add(where, f"{path} does not exist")
        return
    regions = regions_of(full)
    if name not in regions:
        label = f"'{name}'" if name else "(unnamed)"
        problems.add(where, f"{path} has no region {label}; it has: {', '.join(sorted(regions)) or 'none'}")
        return
    expected = regions[name]
    if text != expected:
        diff = "\n".join(difflib.unified_diff(expected.split("\n"), text.split("\n"),
                                              f"{path}#{name}", "guide", lineterm=""))
        problems.add(where, f"code block differs from {path}#{name}:\n{diff}")


def normalize(text):
    """Plain quotes, and no line:column numbers in normfuse's headers, which move as they are edited
    (those in the example itself are kept: they point at the line the guide shows)."""
    text = text.replace("\u2018", "'").replace("\u2019", "'")
    return re.sub(r"(include/normfuse/[\w/.]+):\d+:\d+:", r"\1:L:C:", text)


def compile_command(cxx, flags, source, output):
    return [cxx] + shlex.split(flags) + ["-I", "include", source, "-o", output]


def check_compiler_output(argument, text, where, args, problems):
    parts = argument.split()
    if len(parts) not in (2, 3):
        problems.add(where, "compiler-output marker needs a file, a macro and optionally a compiler")
        return
    path, macro = parts[0], parts[1]
    cxx = parts[2] if len(parts) == 3 else args.cxx
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        problems.add(where, f"{path} does not exist")
        return
    with open(full, encoding="utf-8") as f:
        if f"defined({macro})" not in f.read():
            problems.add(where, f"{path} never tests defined({macro})")
            return
    if not args.compile_errors:
        return
    command = [cxx] + shlex.split(args.flags) + ["-I", "include", f"-D{macro}", "-fsyntax-only", path]
    result = subprocess.run(command, cwd=ROOT, capture_output=True, text=True)
    if result.returncode == 0:
        problems.add(where, f"{' '.join(command)} compiled, but the guide shows it failing")
        return
    output = normalize(result.stderr)
    position = 0
    for line in text.split("\n"):
        for fragment in (f.strip() for f in normalize(line).split("...")):
            if not fragment:
                continue
            found = output.find(fragment, position)
            if found < 0:
                problems.add(where, f"not in the output of {' '.join(command)} (in order): {fragment!r}")
                return
            position = found + len(fragment)


def check_output(argument, text, where, args, problems, built):
    parts = argument.split()
    if len(parts) not in (1, 2):
        problems.add(where, "output marker needs a file and optionally a compiler")
        return
    path = parts[0]
    cxx = parts[1] if len(parts) == 2 else args.cxx
    full = os.path.join(ROOT, path)
    if not os.path.isfile(full):
        problems.add(where, f"{path} does not exist")
        return
    if not args.run:
        return
    key = (path, cxx)
    if key not in built:
        with tempfile.TemporaryDirectory() as tmp:
            exe = os.path.join(tmp, "program")
            build = subprocess.run(compile_command(cxx, args.flags, path, exe), cwd=ROOT,
                                   capture_output=True, text=True)
            if build.returncode != 0:
                built[key] = None
                problems.add(where, f"{path} does not build with {cxx}:\n{build.stderr[:2000]}")
                return
            run = subprocess.run([exe], cwd=ROOT, capture_output=True, text=True)
            built[key] = run.stdout if run.returncode == 0 else None
            if run.returncode != 0:
                problems.add(where, f"{path} exits with {run.returncode}:\n{run.stderr[:2000]}")
                return
    if built[key] is not None and text not in built[key]:
        problems.add(where, f"the program {path}, built with {cxx}, does not print this block")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--guide", default="docs/guide.md", help="the Markdown file to check")
    parser.add_argument("--compile-errors", action="store_true",
                        help="recompile each quoted misuse and compare the compiler's output")
    parser.add_argument("--run", action="store_true", help="build and run each program whose output is quoted")
    parser.add_argument("--cxx", default=os.environ.get("CXX", "g++"), help="compiler for --run/--compile-errors")
    parser.add_argument("--flags", default=DEFAULT_FLAGS, help="compiler flags for --run/--compile-errors")
    args = parser.parse_args()

    problems = Problems()
    cache = {}

    def regions_of(path):
        if path not in cache:
            cache[path] = parse_regions(path, problems)
        return cache[path]

    examples = os.path.join(ROOT, "docs", "examples")
    for name in sorted(os.listdir(examples)):
        if name.endswith(".cpp"):
            regions_of(os.path.join(examples, name))

    guide = os.path.join(ROOT, args.guide)
    blocks = parse_guide(guide, problems)
    built = {}
    counts = {"snippet": 0, "output": 0, "compiler-output": 0}
    for kind, argument, text, line in blocks:
        where = f"{os.path.relpath(guide, ROOT)}:{line}"
        counts[kind] += 1
        if kind == "snippet":
            check_snippet(argument, text, where, regions_of, problems)
        elif kind == "output":
            check_output(argument, text, where, args, problems, built)
        else:
            check_compiler_output(argument, text, where, args, problems)

    if problems.items:
        for item in problems.items:
            print(item, file=sys.stderr)
        print(f"check_snippets: {len(problems.items)} problem(s)", file=sys.stderr)
        return 1
    print(f"check_snippets: {counts['snippet']} snippets, {counts['output']} program outputs and "
          f"{counts['compiler-output']} compiler outputs match their sources"
          + ("" if args.run or args.compile_errors else " (outputs not rebuilt; see --run, --compile-errors)"))
    return 0


if __name__ == "__main__":
    sys.exit(main())

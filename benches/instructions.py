#!/usr/bin/env python3
"""Instruction counts of fastauth's hot paths, under valgrind, against a baseline.

    python3 benches/instructions.py            # measure, compare with the baseline, fail on > 3 %
    python3 benches/instructions.py --update   # measure and write the baseline (commit it with the
                                               # change that justifies it)

Each benchmark of benches/instructions (a crate of the workspace) runs in its own callgrind process, counting
only inside `measured`; but for `hmac`, the SHA-256 block function (which valgrind runs
in software: see that file) is then subtracted with all it calls. Counts are per operation.

The baseline records the valgrind and rustc versions and the CPU model: counts depend
on them. When they differ from this machine's, the script measures the baseline's
commit here (in a temporary git worktree) and compares with that instead of failing.
"""

import argparse
import hashlib
import json
import os
import re
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BASELINE = ROOT / "benches" / "instructions.baseline.json"
BENCHMARKS = [
    "hmac",
    "verify",
    "issue_pair",
    "level_for",
    "layer_stateless_hit",
    "layer_stored_hit",
    "layer_first_use",
]
ROUNDS = 100
TOLERANCE = 0.03


def run(cmd, cwd, **kw):
    return subprocess.run(cmd, cwd=cwd, check=True, text=True, capture_output=True, **kw)


def environment() -> dict:
    valgrind = run(["valgrind", "--version"], ROOT).stdout.strip()
    rustc = run(["rustc", "--version"], ROOT).stdout.strip()
    cpu, flags = "", ""
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name") and not cpu:
            cpu = line.split(":", 1)[1].strip()
        if line.startswith("flags") and not flags:
            flags = " ".join(sorted(line.split(":", 1)[1].split()))
    # Valgrind's simulated CPU follows the host's features, so the flags are part of it.
    cpu_flags = hashlib.sha256(flags.encode()).hexdigest()[:16]
    return {"valgrind": valgrind, "rustc": rustc, "cpu": cpu, "cpu_flags": cpu_flags}


def build(tree: Path) -> Path:
    if (tree / "benches" / "instructions" / "Cargo.toml").exists():
        cmd = ["cargo", "build", "--release", "-p", "fastauth-instructions", "--message-format=json"]
    else:
        # A commit from before the benchmark became a crate of its own (a baseline's).
        cmd = ["cargo", "bench", "--all-features", "--bench", "instructions", "--no-run", "--message-format=json"]
    out = run(cmd, tree).stdout
    for line in out.splitlines():
        try:
            message = json.loads(line)
        except json.JSONDecodeError:
            continue
        target = message.get("target", {})
        if message.get("reason") == "compiler-artifact" and target.get("name") == "instructions":
            if message.get("executable"):
                return Path(message["executable"])
    sys.exit("benches/instructions.py: no instructions executable was built")


def measure(binary: Path, tree: Path) -> dict:
    counts = {}
    with tempfile.TemporaryDirectory() as tmp:
        for name in BENCHMARKS:
            out = Path(tmp) / f"{name}.out"
            cmd = [
                "valgrind",
                "--tool=callgrind",
                f"--callgrind-out-file={out}",
                "--toggle-collect=*instructions::measured*",
                str(binary),
                name,
            ]
            run(cmd, tree)
            text = out.read_text()
            match = re.search(r"^(?:summary|totals):\s+(\d+)", text, re.M)
            if not match:
                sys.exit(f"benches/instructions.py: no total in callgrind's output for {name}")
            total = int(match.group(1))
            if name != "hmac":
                # SHA-256's block function is subtracted with all it calls, as counted inside
                # `measured` only. (A second --toggle-collect on it would turn collection *on*
                # when the set-up outside `measured` hashes: 538 stray instructions an operation.)
                total -= inclusive(out, "sha2::sha256::compress256")
            counts[name] = round(total / ROUNDS)
    return counts


def inclusive(out: Path, function: str) -> int:
    """The inclusive count of `function` in a callgrind output (0 if it never ran)."""
    annotated = run(["callgrind_annotate", "--inclusive=yes", str(out)], ROOT).stdout
    for line in annotated.splitlines():
        match = re.match(r"^\s*([\d,]+) .*:" + re.escape(function) + r" ", line)
        if match:
            return int(match.group(1).replace(",", ""))
    return 0


def measure_commit(commit: str) -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        tree = Path(tmp) / "base"
        run(["git", "worktree", "add", "--detach", str(tree), commit], ROOT)
        try:
            return measure(build(tree), tree)
        finally:
            run(["git", "worktree", "remove", "--force", str(tree)], ROOT)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--update", action="store_true", help="write the baseline")
    args = parser.parse_args()

    env = environment()
    counts = measure(build(ROOT), ROOT)
    head = run(["git", "rev-parse", "HEAD"], ROOT).stdout.strip()
    if args.update:
        BASELINE.write_text(json.dumps({**env, "commit": head, "counts": counts}, indent=2) + "\n")
        for name, count in counts.items():
            print(f"{name:22} {count:>8}")
        print(f"baseline written to {BASELINE.relative_to(ROOT)} (commit it with the change)")
        return 0

    baseline = json.loads(BASELINE.read_text())
    reference = baseline["counts"]
    differs = [k for k in env if baseline.get(k) != env[k]]
    if differs:
        print(f"this machine differs from the baseline's in {', '.join(differs)}: "
              f"measuring the baseline's commit {baseline['commit'][:12]} here")
        reference = measure_commit(baseline["commit"])

    failed = False
    print(f"{'benchmark':22} {'baseline':>9} {'now':>9} {'change':>8}")
    for name in BENCHMARKS:
        before, now = reference.get(name), counts[name]
        if before is None:
            print(f"{name:22} {'-':>9} {now:>9}   (new: not in the baseline)")
            failed = True
            continue
        change = (now - before) / before
        flag = "  REGRESSION" if change > TOLERANCE else ""
        failed |= bool(flag)
        print(f"{name:22} {before:>9} {now:>9} {change:>+7.1%}{flag}")
    if failed:
        print(f"instruction counts rose more than {TOLERANCE:.0%} (or a benchmark has no baseline): "
              "find out why; if the change is worth it, run with --update and commit the baseline with it")
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())

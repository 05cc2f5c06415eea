#!/usr/bin/env python3
"""Load benchmark of fastauth over loopback, side by side with an unprotected baseline.

Builds the example servers in release mode, starts them on 127.0.0.1, runs every scenario
with wrk after a warm-up, repeats the rounds (interleaved, so drift hits every scenario
alike), and prints one table of medians with the ratio to the baseline measured in the
same run. Servers run pinned to one core and wrk to the other (see --server-cpus and
--wrk-cpus), so throughput is per server core. Everything it starts is stopped and its
temporary files removed when it ends, also on Ctrl-C.

    python3 benches/load.py                 # all scenarios, 3 rounds of 5 s
    python3 benches/load.py --rounds 5 --duration 10
    python3 benches/load.py --markdown      # the table as Markdown, for BENCHMARKS.md

This file is also the harness of the Flussonic backend's load benchmark
(examples/flussonic_backend/benches/load.py), which imports it: same method, same table.

Needs wrk (apt-get install -y wrk) and taskset (util-linux).
"""

import argparse
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "bench-key-0123456789-0123456789-0123456789-0123"
MASTER = "bench-master-token-0123456789"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Run:
    """Owns the processes and files of one benchmark run."""

    def __init__(self, args):
        self.args = args
        self.procs = []
        self.tmp = tempfile.mkdtemp(prefix="fastauth-load-")

    def cleanup(self):
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def start(self, name, binary, env):
        log = open(os.path.join(self.tmp, f"{name}.log"), "w")
        full_env = dict(os.environ, RUST_LOG="warn", LOG_LEVEL="warn", **env)
        cmd = ["taskset", "-c", self.args.server_cpus, binary]
        proc = subprocess.Popen(cmd, env=full_env, stdout=log, stderr=subprocess.STDOUT, cwd=self.tmp)
        self.procs.append(proc)
        return proc

    def config(self, name, **values):
        path = os.path.join(self.tmp, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"cryptography_key": KEY, "master_token": MASTER, **values}, f)
        return path

    def wrk(self, url, headers=(), script=None, duration=None, connections=None):
        cmd = ["taskset", "-c", self.args.wrk_cpus, "wrk", "--latency", "-t", str(self.args.threads),
               "-c", str(connections or self.args.connections), "-d", f"{duration or self.args.duration}s"]
        for h in headers:
            cmd += ["-H", h]
        if script:
            cmd += ["-s", script]
        cmd.append(url)
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p99_match = re.search(r"^\s+99%\s+(\S+)", out, re.M)
        p99 = parse_latency(p99_match.group(1)) if p99_match else float("nan")
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        return {"rps": rps, "p99_ms": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
                "errors": errors.group(1) if errors else ""}


def parse_latency(text):
    match = re.match(r"([\d.]+)(us|ms|s)$", text)
    if not match:
        return float("nan")  # wrk prints "-nan" when it saw no completed request
    value, unit = match.groups()
    return float(value) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def wait_http(url, timeout=30.0, headers=None):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            req = urllib.request.Request(url, headers=headers or {})
            urllib.request.urlopen(req, timeout=1)
            return
        except urllib.error.HTTPError:
            return  # it answers
        except Exception:
            time.sleep(0.1)
    raise RuntimeError(f"{url} did not come up")


def get_json(url, headers=None, method="GET", body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, headers={"Content-Type": "application/json", **(headers or {})},
                                 method=method, data=data)
    with urllib.request.urlopen(req, timeout=5) as resp:
        text = resp.read()
        return json.loads(text) if text else None


def example_binary(name):
    """A release build of one of this crate's examples."""
    return os.path.join(ROOT, "target", "release", "examples", name)


def basic_scenarios(run):
    """basic_api: the same handler, the same path, only the layer's configuration differs."""
    db_port = free_port()
    run.start("token_database", example_binary("token_database"), {"PORT": str(db_port)})
    wait_http(f"http://127.0.0.1:{db_port}/mydb/data/token?client_id=x")
    db_url = f"http://127.0.0.1:{db_port}/mydb/data"

    servers = {
        "baseline": run.config("baseline", access_token_paths=[], token_mode="stateless"),
        "stateless": run.config("stateless", access_token_paths=["/health"], token_mode="stateless"),
        "stored": run.config("stored", access_token_paths=["/health"], database_api_path=db_url,
                             store_cache_ttl_secs=300),
        "master": run.config("master", master_token_paths=["/health"], token_mode="stateless"),
        "issue": run.config("issue", database_api_path=db_url),
    }
    ports = {}
    for name, config in servers.items():
        ports[name] = free_port()
        run.start(name, example_binary("basic_api"), {"FASTAUTH_CONFIG": config, "PORT": str(ports[name])})
    for name, port in ports.items():
        wait_http(f"http://127.0.0.1:{port}/auth/token/new")

    def token_from(name):
        data = get_json(f"http://127.0.0.1:{ports[name]}/auth/token/new?client_id=bench",
                        headers={"MASTER-TOKEN": MASTER})
        return data["data"]["access_token"]

    stateless_token = token_from("stateless")
    stored_token = token_from("stored")
    base = "http://127.0.0.1:{}/health"
    stateless_header = f"ACCESS-TOKEN: {stateless_token}"
    stored_header = f"ACCESS-TOKEN: {stored_token}"
    # Two baselines: the bare request, and the very same request a protected scenario
    # sends (token header included) to a server that does not check it. The ratio to the
    # second is the layer's own cost; the ratio to the first adds hyper parsing the header.
    return [
        ("basic_api /health, unprotected (baseline)", None,
         lambda d=None: run.wrk(base.format(ports["baseline"]), duration=d)),
        ("basic_api /health, unprotected, token header sent (same-request baseline)", None,
         lambda d=None: run.wrk(base.format(ports["baseline"]), [stateless_header], duration=d)),
        ("basic_api /health, access token, stateless", "same-request",
         lambda d=None: run.wrk(base.format(ports["stateless"]), [stateless_header], duration=d)),
        ("basic_api /health, access token, stored + cache (HTTP store)", "same-request",
         lambda d=None: run.wrk(base.format(ports["stored"]), [stored_header], duration=d)),
        ("basic_api /health, master token", "baseline",
         lambda d=None: run.wrk(base.format(ports["master"]), [f"MASTER-TOKEN: {MASTER}"], duration=d)),
        ("basic_api /auth/token/new, HTTP store", None,
         lambda d=None: run.wrk(f"http://127.0.0.1:{ports['issue']}/auth/token/new?client_id=bench",
                                [f"MASTER-TOKEN: {MASTER}"], duration=d)),
    ]


def arguments(description):
    """The command line every load benchmark of the workspace takes."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--warmup", type=int, default=2, help="seconds of warm-up per scenario")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--wrk-cpus", default="1")
    parser.add_argument("--markdown", action="store_true")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")
    return args


def run_scenarios(args, builders):
    """Starts what each builder needs, warms every scenario up, measures the rounds
    interleaved, prints the table, and stops everything."""
    run = Run(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        scenarios = []
        for build in builders:
            scenarios += build(run)
        for _, _, measure in scenarios:
            measure(args.warmup)
        results = {name: [] for name, _, _ in scenarios}
        for round_ in range(args.rounds):
            for name, _, measure in scenarios:
                results[name].append(measure())
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        report(args, scenarios, results)
    finally:
        run.cleanup()


def main():
    args = arguments(__doc__)
    if not args.no_build:
        cmd = ["cargo", "build", "--release", "-p", "fastauth", "--example", "basic_api", "--example", "token_database"]
        subprocess.run(cmd, cwd=ROOT, check=True)
    run_scenarios(args, [basic_scenarios])


def report(args, scenarios, results):
    medians = {name: statistics.median(r["rps"] for r in rs) for name, rs in results.items()}
    bases = {}
    for name, _, _ in scenarios:
        if "(baseline)" in name:
            bases["baseline"] = medians[name]
        elif "(same-request baseline)" in name:
            bases["same-request"] = medians[name]
    plain = bases.get("baseline")
    rows = []
    for name, ref, _ in scenarios:
        rs = results[name]
        ratio = f"{medians[name] / bases[ref]:.3f}" if ref in bases else ""
        # Every basic_api row also gets its ratio to the bare request, for comparison.
        ratio_plain = f"{medians[name] / plain:.3f}" if plain and name.startswith("basic_api /health") else ""
        p99 = statistics.median(r["p99_ms"] for r in rs)
        non2xx = sum(r["non2xx"] for r in rs)
        runs = " / ".join(f"{r['rps']:.0f}" for r in rs)
        rows.append((name, f"{medians[name]:.0f}", ratio, ratio_plain, f"{p99:.2f}", str(non2xx), runs))
    header = ("scenario", "req/s (median)", "× its baseline", "× bare request", "p99 ms", "non-2xx",
              "rounds req/s")
    if args.markdown:
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
    else:
        widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
        for row in [header] + rows:
            print("  ".join(str(c).ljust(w) for c, w in zip(row, widths)))
    print(f"\n{args.rounds} rounds x {args.duration} s, {args.connections} connections, "
          f"server on cpu {args.server_cpus}, wrk on cpu {args.wrk_cpus}", file=sys.stderr)


if __name__ == "__main__":
    main()

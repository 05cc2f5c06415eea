#!/usr/bin/env python3
"""Load benchmark of fastauth over loopback, side by side with an unprotected baseline.

Builds the example servers in release mode, starts them on 127.0.0.1, runs every scenario
with wrk after a warm-up, repeats the rounds (interleaved, so drift hits every scenario
alike; every other round in reverse order), and prints one table of medians. Servers run
pinned to one core and wrk to the other (see --server-cpus and --wrk-cpus).

The figure that decides is the server's CPU per request: the CPU time (user and kernel)
of the server process over a measurement, from the scheduler's per-thread account in
nanoseconds, divided by the requests wrk completed. Throughput on this machine is noisier
than the layer's cost (wrk on one core is often the bottleneck); CPU per request is not.
Each protected scenario is paired, round by round, with a baseline server that runs the
same app without the check and receives the very same request bytes (the same token
header), both measured at once (see measure_pair); the table gives each round's ratio
(baseline CPU / protected CPU, so 1.0 is free and 0.97 is 3 % more CPU) and their median.
An A/A row pairs two processes of the same baseline server: how far from 1.0 it lands is
how far the method can be trusted. Reference rows (benches/servers/load_reference.rs) put
the cheapest alternatives in the same app: a static token check, the same layer checking
nothing (the reference layers are not in the baseline, fastauth's is), claims handed to
the handler without any check, the app without fastauth's layer (what that layer costs
a request it lets through), and fastauth's layer around the router instead of on each
route. Everything it starts is stopped and its temporary files removed when it ends, also
on Ctrl-C.

    python3 benches/load.py                 # all scenarios, 5 rounds of 5 s
    python3 benches/load.py --rounds 5 --duration 10
    python3 benches/load.py --markdown      # the table as Markdown, for BENCHMARKS.md
    python3 benches/load.py --pairs alternating   # a pair's sides one after the other

This file is also the harness of the Flussonic backend's load benchmark
(examples/flussonic_backend/benches/load.py), which imports it: same method, same table.

Needs wrk (apt-get install -y wrk) and taskset (util-linux).
"""

import argparse
import concurrent.futures
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


def listening_pid(port):
    """The process that listens on 127.0.0.1:port (from /proc: no tool needed)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as f:
                next(f)
                for line in f:
                    fields = line.split()
                    if fields[3] == "0A" and int(fields[1].rsplit(":", 1)[1], 16) == port:
                        inodes.add(fields[9])
        except FileNotFoundError:
            pass
    targets = {f"socket:[{inode}]" for inode in inodes}
    for pid in filter(str.isdigit, os.listdir("/proc")):
        try:
            for fd in os.listdir(f"/proc/{pid}/fd"):
                if os.readlink(f"/proc/{pid}/fd/{fd}") in targets:
                    return int(pid)
        except OSError:
            continue
    return None


def cpu_seconds(pid):
    """The CPU time of a process's live threads, user and kernel, in seconds.

    Read from /proc/PID/task/TID/schedstat (the scheduler's runtime, in nanoseconds). The
    total is the time utime + stime report, but those come in clock ticks (10 ms), which is
    a per cent of a short measurement; this is exact. A thread that exits between two reads
    takes its time with it, so `CpuClock` checks that none did."""
    total = 0
    for tid in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat") as f:
                total += int(f.read().split()[0])
        except FileNotFoundError:
            pass  # exited since the listing: CpuClock.seconds() refuses the measurement
    return total / 1e9


def thread_ids(pid):
    return set(os.listdir(f"/proc/{pid}/task"))


class CpuClock:
    """The CPU time a process spends from this clock's creation to `seconds()`."""

    def __init__(self, pid):
        self.pid = pid
        self.threads = thread_ids(pid)
        self.start = cpu_seconds(pid)

    def seconds(self):
        used = cpu_seconds(self.pid) - self.start
        if not self.threads <= thread_ids(self.pid):
            raise RuntimeError(f"a thread of pid {self.pid} exited during a measurement: its CPU time is lost")
        return used


class Run:
    """Owns the processes and files of one benchmark run."""

    def __init__(self, args):
        self.args = args
        self.procs = []
        self.root = tempfile.mkdtemp(prefix="fastauth-load-")
        self.tmp = tempfile.mkdtemp(dir=self.root)

    def stop(self):
        """Stops every process started so far, and gives later ones a new directory."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.procs:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                proc.kill()
        self.procs = []
        self.tmp = tempfile.mkdtemp(dir=self.root)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.root, ignore_errors=True)

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
        port = int(re.match(r"https?://[^:/]+:(\d+)", url).group(1))
        pid = listening_pid(port)
        clock = CpuClock(pid) if pid else None
        out = subprocess.run(cmd, capture_output=True, text=True, check=True).stdout
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        cpu_us = float("nan")
        if pid and requests:
            cpu_us = clock.seconds() / requests * 1e6
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
        p99_match = re.search(r"^\s+99%\s+(\S+)", out, re.M)
        p99 = parse_latency(p99_match.group(1)) if p99_match else float("nan")
        non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        errors = re.search(r"Socket errors: (.*)", out)
        return {"rps": rps, "p99_ms": p99, "non2xx": int(non2xx.group(1)) if non2xx else 0,
                "errors": errors.group(1) if errors else "", "requests": requests, "cpu_us": cpu_us}


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


AA_CONTROL = "unprotected, a second process of the baseline server (A/A control: the method's noise)"


# The reference servers, by their REFERENCE value: what they are, as the table names them.
REFERENCES = {
    "static-token": "reference: static token check, constant-time (tower-http), no JWT",
    "pass-through": "reference: the same tower-http layer, checking nothing",
    "claims-only": "reference: claims into the extensions, no check",
    "no-layer": "reference: the app without fastauth's layer (above 1: its cost on a public path)",
    "layer-around": "reference: fastauth's layer around the router, not Router::layer (above 1: what that saves)",
}


def basic_scenarios(run):
    """basic_api: the same handler, the same path, only the layer's configuration differs."""
    db_port = free_port()
    run.start("token_database", example_binary("token_database"), {"PORT": str(db_port)})
    wait_http(f"http://127.0.0.1:{db_port}/mydb/data/token?client_id=x")
    db_url = f"http://127.0.0.1:{db_port}/mydb/data"

    servers = {
        "baseline": run.config("baseline", access_token_paths=[], token_mode="stateless"),
        # A second process of the very same server: its pairs with the first show the
        # method's own noise, what a layer that cost nothing would measure.
        "baseline2": run.config("baseline2", access_token_paths=[], token_mode="stateless"),
        "stateless": run.config("stateless", access_token_paths=["/health"], token_mode="stateless"),
        # No store in the file: basic_api keeps tokens in memory (the default configuration).
        "memory": run.config("memory", access_token_paths=["/health"]),
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

    base = "http://127.0.0.1:{}/health"
    bare = "basic_api /health, unprotected (baseline)"
    scenarios = [(bare, None, lambda d=None: run.wrk(base.format(ports["baseline"]), duration=d))]
    # Each protected scenario is paired with the unprotected server receiving the very same
    # bytes (its token header), so the ratio is the check's own cost, not hyper's parsing.
    stateless_token = token_from('stateless')
    stateless = f"ACCESS-TOKEN: {stateless_token}"
    # The cheapest alternatives, in the same app (benches/servers/load_reference.rs): the
    # baseline's configuration, one layer around its router.
    for name in REFERENCES:
        ports[name] = free_port()
        run.start(name, example_binary("load_reference"),
                  {"FASTAUTH_CONFIG": servers["baseline"], "PORT": str(ports[name]), "REFERENCE": name,
                   "REFERENCE_TOKEN": stateless_token})
        wait_http(f"http://127.0.0.1:{ports[name]}/health", headers={"ACCESS-TOKEN": stateless_token})
    checks = [
        ("access token, stateless", "stateless", stateless),
        ("access token, stored + memory store", "memory", f"ACCESS-TOKEN: {token_from('memory')}"),
        ("access token, stored + CachedTokenStore (HTTP store)", "stored",
         f"ACCESS-TOKEN: {token_from('stored')}"),
        ("master token", "master", f"MASTER-TOKEN: {MASTER}"),
        (REFERENCES["static-token"], "static-token", stateless),
        (REFERENCES["pass-through"], "pass-through", stateless),
        (REFERENCES["claims-only"], "claims-only", stateless),
        (REFERENCES["no-layer"], "no-layer", stateless),
        (REFERENCES["layer-around"], "layer-around", stateless),
        (AA_CONTROL, "baseline2", stateless),
    ]
    for label, server, header in checks:
        same = f"basic_api /health, unprotected, same bytes as '{label}' (baseline)"
        scenarios.append((same, None,
                          lambda d=None, h=header: run.wrk(base.format(ports["baseline"]), [h], duration=d)))
        scenarios.append((f"basic_api /health, {label}", same,
                          lambda d=None, h=header, p=ports[server]: run.wrk(base.format(p), [h], duration=d)))
    # Its own client: issuing for "bench" would replace the stored server's pair in the shared
    # database, and that server would refuse its token once its cache entry expired.
    scenarios.append(("basic_api /auth/token/new, HTTP store", None,
                      lambda d=None: run.wrk(f"http://127.0.0.1:{ports['issue']}/auth/token/new?client_id=issuer",
                                             [f"MASTER-TOKEN: {MASTER}"], duration=d)))
    return scenarios


def arguments(description, fresh=False):
    """The command line every load benchmark of the workspace takes; `fresh`: whether
    servers start anew each round unless told otherwise."""
    parser = argparse.ArgumentParser(description=description, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--duration", type=int, default=5, help="seconds per measurement")
    parser.add_argument("--pairs", choices=("simultaneous", "alternating"), default="simultaneous",
                        help="how a pair's two sides share the time (see measure_pair)")
    parser.add_argument("--fresh", action=argparse.BooleanOptionalAction, default=fresh,
                        help="start every server anew for each round (this script's default): a process's memory layout "
                             "moves its CPU per request by about 1 %%, and the same baseline process is the "
                             "reference of every pair")
    parser.add_argument("--slice", type=int, default=0,
                        help="--pairs alternating: seconds per slice (default: the whole --duration)")
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


def combined(slices):
    """One measurement out of several slices of it: totals of requests and CPU, the
    median slice's p99."""
    requests = sum(r["requests"] for r in slices)
    cpu_us = sum(r["cpu_us"] * r["requests"] for r in slices) / requests if requests else float("nan")
    return {"rps": statistics.mean(r["rps"] for r in slices), "cpu_us": cpu_us, "requests": requests,
            "p99_ms": statistics.median(r["p99_ms"] for r in slices),
            "non2xx": sum(r["non2xx"] for r in slices),
            "errors": "; ".join(r["errors"] for r in slices if r["errors"])}


def measure_pair(args, baseline, protected):
    """A pair's two measurements.

    `--pairs simultaneous` (the default): both at once, each server loaded by its own wrk,
    so that contention from the host (this VM shares its cores) lands on both sides
    alike. The two servers then share the server CPU and the two wrk the other one.
    `--pairs alternating`: one after the other, in slices of --slice seconds (the whole
    --duration by default: the method of the rounds before 2026-11-30), baseline first,
    then protected first, and so on. Its A/A pairs went from 0.89 to 1.07 on this machine,
    the simultaneous ones' from 0.98 to 1.02 (BENCHMARKS.md)."""
    if args.pairs == "simultaneous":
        with concurrent.futures.ThreadPoolExecutor(2) as pool:
            sides = [pool.submit(measure) for measure in (baseline, protected)]
            return sides[0].result(), sides[1].result()
    slice_ = args.slice or args.duration
    count = max(1, args.duration // slice_)
    sides = ([], [])
    for i in range(count):
        order = (0, 1) if i % 2 == 0 else (1, 0)
        for side in order:
            sides[side].append((baseline, protected)[side](slice_))
    return combined(sides[0]), combined(sides[1])


def run_scenarios(args, builders):
    """Starts what each builder needs, warms every scenario up, measures the rounds
    interleaved, prints the table, and stops everything."""
    run = Run(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))

    def start_all():
        scenarios = []
        for build in builders:
            scenarios += build(run)
        for _, _, measure in scenarios:
            measure(args.warmup)
        return scenarios

    try:
        results = None
        for round_ in range(args.rounds):
            if round_ == 0 or args.fresh:
                if round_ > 0:
                    run.stop()
                scenarios = start_all()
                measures = {name: measure for name, _, measure in scenarios}
                # A paired scenario is measured together with its baseline, as one unit.
                paired_baselines = {ref for _, ref, _ in scenarios if ref}
                units = [(ref, name) if ref else (name,) for name, ref, _ in scenarios
                         if name not in paired_baselines]
                results = results or {name: [] for name, _, _ in scenarios}
            # Every other round backwards: a drift over the round hits a pair from both sides.
            order = units if round_ % 2 == 0 else units[::-1]
            for unit in order:
                if len(unit) == 2:
                    baseline, protected = measure_pair(args, measures[unit[0]], measures[unit[1]])
                    results[unit[0]].append(baseline)
                    results[unit[1]].append(protected)
                else:
                    results[unit[0]].append(measures[unit[0]]())
            print(f"round {round_ + 1}/{args.rounds} done", file=sys.stderr)
        report(args, scenarios, results)
    finally:
        run.cleanup()


def main():
    args = arguments(__doc__, fresh=True)
    if not args.no_build:
        cmd = ["cargo", "build", "--release", "-p", "fastauth", "--example", "basic_api", "--example", "token_database",
               "--example", "load_reference"]
        subprocess.run(cmd, cwd=ROOT, check=True)
    run_scenarios(args, [basic_scenarios])


def report(args, scenarios, results):
    """One row a scenario: medians of throughput, CPU per request and p99; for a paired
    scenario, each round's CPU ratio to its baseline and their median."""
    def median(name, key):
        values = [r[key] for r in results[name] if r[key] == r[key]]  # NaN: no server CPU
        return statistics.median(values) if values else float("nan")

    bare = next((name for name, _, _ in scenarios if name.endswith("unprotected (baseline)")), None)
    rows = []
    for name, ref, _ in scenarios:
        rs = results[name]
        pairs = ""
        ratio = ""
        if ref:
            ratios = [b["cpu_us"] / r["cpu_us"] for b, r in zip(results[ref], rs)]
            ratio = f"{statistics.median(ratios):.3f}"
            pairs = " / ".join(f"{x:.3f}" for x in ratios)
            # A pair compares the same handler's answer: a refusal on either side means
            # the two did different work, and the ratio says nothing about the layer.
            refused = sum(r["non2xx"] for r in rs + results[ref])
            if refused:
                ratio = f"INVALID ({refused} non-2xx)"
                print(f"warning: {name}: {refused} non-2xx responses in the pair, its ratio is invalid",
                      file=sys.stderr)
        to_bare = ""
        if bare and name != bare and name.startswith("basic_api /health"):
            to_bare = f"{median(bare, 'cpu_us') / median(name, 'cpu_us'):.3f}"
        rows.append((name, f"{median(name, 'cpu_us'):.2f}", ratio, pairs, to_bare,
                     f"{median(name, 'rps'):.0f}", f"{median(name, 'p99_ms'):.2f}",
                     str(sum(r["non2xx"] for r in rs))))
    header = ("scenario", "server CPU µs/request (median)", "× its baseline (median of pairs)",
              "pairs, round by round", "× bare request", "req/s (median)", "p99 ms", "non-2xx")
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

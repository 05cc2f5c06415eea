#!/usr/bin/env python3
"""User-space instructions per request of basic_api under callgrind: what the layer adds.

The CPU-per-request ratios of benches/load.py move by a few per cent from run to run,
which is the size of the layer's cost. Instruction counts do not: this script starts the
same basic_api servers as load.py (an unprotected baseline, and the layer with each
credential) under valgrind's callgrind, sends each the very same request bytes with wrk,
zeroes the counters after a warm-up, and divides the instructions the server ran (all
threads, user space only: the kernel's part is the same for both) by the requests served.
The difference to the baseline is the layer's own cost; `--keep DIR` leaves the callgrind
outputs there for `callgrind_annotate`, to see where it goes. A last table counts load.py's
reference servers (benches/servers/load_reference.rs) against the same baseline: the app
without fastauth's layer (what the layer costs before it checks anything), the layer around
the router instead of on each route, a tower-http layer checking nothing, and a static
token check.

    python3 benches/server_instructions.py                  # every configuration
    python3 benches/server_instructions.py --only stateless --keep /tmp/cg
    python3 benches/server_instructions.py --only references

Valgrind runs SHA-256 in software (~3,400 instructions a block), so the master token's
row counts its digest at many times what SHA-NI costs. Needs valgrind and wrk; builds the
examples in release mode first (as load.py does).
"""

import argparse
import glob
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from load import KEY, MASTER, ROOT, example_binary, free_port, get_json, wait_http  # noqa: E402


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", choices=["stateless", "memory", "stored", "master", "references"])
    parser.add_argument("--seconds", type=int, default=6, help="of wrk per measurement")
    parser.add_argument("--keep", help="a directory for the callgrind outputs")
    args = parser.parse_args()
    subprocess.run(["cargo", "build", "--release", "--example", "basic_api", "--example", "token_database",
                    "--example", "load_reference"], cwd=ROOT, check=True)
    tmp = tempfile.mkdtemp(prefix="fastauth-instructions-")
    procs = []

    def start(argv, env):
        procs.append(subprocess.Popen(argv, env={**os.environ, **env}, stdout=subprocess.DEVNULL,
                                      stderr=subprocess.DEVNULL))
        return procs[-1]

    def server(name, example="basic_api", env=None, **config):
        path = os.path.join(tmp, f"{name}.json")
        with open(path, "w") as f:
            json.dump({"cryptography_key": KEY, "master_token": MASTER, **config}, f)
        port = free_port()
        proc = start(["taskset", "-c", "0", "valgrind", "--tool=callgrind",
                      f"--callgrind-out-file={tmp}/{name}.%p.out", example_binary(example)],
                     {"FASTAUTH_CONFIG": path, "PORT": str(port), **(env or {})})
        wait_http(f"http://127.0.0.1:{port}/auth/token/new", timeout=120)
        return name, proc, port

    def measure(target, header):
        name, proc, port = target
        wrk = ["taskset", "-c", "1", "wrk", "-t1", "-c4", "-H", header, f"http://127.0.0.1:{port}/health"]
        subprocess.run(wrk[:4] + ["-d1s"] + wrk[4:], capture_output=True, check=True)
        for old in glob.glob(f"{tmp}/{name}.{proc.pid}.out.*"):
            os.remove(old)
        subprocess.run(["callgrind_control", "-z", str(proc.pid)], capture_output=True, check=True)
        out = subprocess.run(wrk[:4] + [f"-d{args.seconds}s"] + wrk[4:], capture_output=True, text=True,
                             check=True).stdout
        subprocess.run(["callgrind_control", "-d", str(proc.pid)], capture_output=True, check=True)
        time.sleep(0.5)
        total = 0
        for dump in glob.glob(f"{tmp}/{name}.{proc.pid}.out.*"):
            with open(dump) as f:
                total += int(re.search(r"^(?:summary|totals):\s+(\d+)", f.read(), re.M).group(1))
            if args.keep:
                os.makedirs(args.keep, exist_ok=True)
                shutil.copy(dump, args.keep)
        requests = int(re.search(r"(\d+) requests in", out).group(1))
        if re.search(r"Non-2xx or 3xx responses", out):
            sys.exit(f"{name}: some requests were refused")
        return total / requests

    try:
        db_port = free_port()
        start([example_binary("token_database")], {"PORT": str(db_port)})
        wait_http(f"http://127.0.0.1:{db_port}/mydb/data/token?client_id=x")
        db = f"http://127.0.0.1:{db_port}/mydb/data"
        baseline = server("baseline", access_token_paths=[], token_mode="stateless")
        configurations = {
            "stateless": dict(access_token_paths=["/health"], token_mode="stateless"),
            "memory": dict(access_token_paths=["/health"]),
            "stored": dict(access_token_paths=["/health"], database_api_path=db, store_cache_ttl_secs=300),
            "master": dict(master_token_paths=["/health"], token_mode="stateless"),
        }
        print("| configuration | baseline instructions/request | protected | added by the layer |")
        print("|---|---|---|---|")
        for name, config in configurations.items():
            if args.only and name != args.only:
                continue
            target = server(name, **config)
            if name == "master":
                header = f"MASTER-TOKEN: {MASTER}"
            else:
                token = get_json(f"http://127.0.0.1:{target[2]}/auth/token/new?client_id=bench",
                                 headers={"MASTER-TOKEN": MASTER})["data"]["access_token"]
                header = f"ACCESS-TOKEN: {token}"
            base, protected = measure(baseline, header), measure(target, header)
            print(f"| {name} | {base:,.0f} | {protected:,.0f} | +{protected - base:,.0f} |", flush=True)
        if not args.only or args.only == "references":
            # What a layer costs before it checks anything: the reference servers of load.py
            # (benches/servers/load_reference.rs), against the same baseline and header.
            token = get_json(f"http://127.0.0.1:{baseline[2]}/auth/token/new?client_id=bench",
                             headers={"MASTER-TOKEN": MASTER})["data"]["access_token"]
            header = f"ACCESS-TOKEN: {token}"
            print()
            print("| reference server | baseline instructions/request | reference | difference |")
            print("|---|---|---|---|")
            for reference in ["no-layer", "layer-around", "pass-through", "static-token"]:
                target = server(f"reference-{reference}", example="load_reference",
                                env={"REFERENCE": reference, "REFERENCE_TOKEN": token},
                                access_token_paths=[], token_mode="stateless")
                base, other = measure(baseline, header), measure(target, header)
                print(f"| {reference} | {base:,.0f} | {other:,.0f} | {other - base:+,.0f} |", flush=True)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait()
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Growth benchmark of the Flussonic backend (issue 17): what a decision costs as open
sessions and the access log grow, on tokens with a session limit (the per-user count runs
on every new session, as it does for operators).

Three measurements, each on a fresh database in a temporary directory, access logging on:

* rounds: consecutive rounds of new sessions (default 3 x 8 s at 32 connections) on
  --users tokens, sessions accumulating from round to round, as a long-running backend
  sees them. Reports each round's req/s, p99, server CPU per decision, and the spread.
* levels: open sessions filled through GET /auth to each level (default 10^3, 10^5,
  10^6; filler sessions spread over --users users), then at each level --rounds rounds
  of new sessions on probe tokens (one per user, same user and limit, so the user's
  count sees the filler sessions), the probe tokens deleted and created again between
  rounds so that every round starts at the level; then a round of re-checks of random
  filler sessions. Reports median req/s, p99 and server CPU per decision.
* access log: after the levels, the backend is stopped cleanly and the access-log file
  is measured: bytes on disk per logged decision, and how they split between the table
  and its indexes (SQLite's dbstat).

Every binary given with --binary runs each measurement in turn (rounds of all, then
levels of all), on the same machine in the same run, so that a before/after comparison
shares the conditions. The server runs pinned to --server-cpus and wrk to --wrk-cpus.

    python3 examples/flussonic_backend/benches/growth.py                 # this tree's release build
    python3 examples/flussonic_backend/benches/growth.py --no-build \\
        --binary before=/tmp/flussonic_backend-old --binary after=target/release/flussonic_backend
    python3 examples/flussonic_backend/benches/growth.py --only rounds --round-seconds 8

Needs wrk (apt-get install -y wrk) and taskset (util-linux); Python standard library only.
"""

import argparse
import http.client
import json
import os
import queue
import re
import secrets
import signal
import sqlite3
import statistics
import subprocess
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import load as harness  # noqa: E402  (the workspace's harness, found through the path above)

KEY = harness.MASTER
QUERY = "name=live%2Fbench&proto=hls&ip=10.0.0.1&stream_clients=1&total_clients=1"

# New sessions spread over the users' tokens, each with a session id of its own (random,
# as Flussonic's are, so that inserts land all over the session index).
NEW_SESSIONS_LUA = """
local users, prefix, run = {users}, "{prefix}", "{run}"
local counter = 0
request = function()
  counter = counter + 1
  local u = counter % users
  local sid = string.format("%s%08x%07x", run, math.random(0, 2147483647), counter)
  return wrk.format("GET", "/auth?{query}&request_type=new_session&request_number=0&token=" .. prefix .. u
    .. "&session_id=" .. sid)
end
"""

# Filler session i: token fill-(i % users), a session id that sorts at random but can be
# computed again (for the re-checks).
FILLER_SID = 'string.format("%08x-%d", (i * 2654435761) % 2147483648, i)'

# Exactly `count` numbered requests, then only GET /health; says DONE on stderr once every
# numbered request is answered (wrk itself only stops after its duration).
FILL_LUA = """
local first, count, users = {first}, {count}, {users}
local sent, ok, failed, finished, checked = 0, 0, 0, false, false
request = function()
  if sent >= count or not checked then
    checked = true
    return wrk.format("GET", "/health")
  end
  local i = first + sent
  sent = sent + 1
  return wrk.format("GET", "/auth?{query}&request_type=new_session&request_number=0&token=fill-" .. (i % users)
    .. "&session_id=" .. {sid})
end
response = function(status, headers, body)
  if finished or (status == 200 and headers["x-auth-reason"] == nil) then
    return
  end
  if status == 200 then ok = ok + 1 else failed = failed + 1 end
  if (ok + failed) % 10000 == 0 then
    io.stderr:write("PROGRESS\\n")
    io.stderr:flush()
  end
  if ok + failed >= count then
    finished = true
    io.stderr:write(string.format("DONE ok=%d failed=%d\\n", ok, failed))
    io.stderr:flush()
  end
end
"""

RECHECK_LUA = """
local filled, users = {filled}, {users}
math.randomseed(42)
request = function()
  local i = math.random(0, filled - 1)
  return wrk.format("GET", "/auth?{query}&request_type=update_session&request_number=1&token=fill-" .. (i % users)
    .. "&session_id=" .. {sid})
end
"""


def cpu_seconds(pid):
    """User + system CPU time of a process (all its threads), in seconds."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class Backend:
    """One backend process on a fresh database, with a keep-alive management client."""

    def __init__(self, run, label, binary, env=None):
        self.run, self.label = run, label
        self.dir = os.path.join(run.tmp, f"{label}-{secrets.token_hex(4)}")
        os.makedirs(self.dir)
        self.port = harness.free_port()
        self.proc = run.start(f"{label}-{os.path.basename(self.dir)}", binary, {
            "API_HOST": "127.0.0.1", "API_PORT": str(self.port), "API_KEY": KEY,
            "DATABASE_URL": f"sqlite:///{self.dir}/tokens.db", "ENABLE_ACCESS_LOGS": "true",
            "AUTH_DURATION": "3600", **(env or {}),
        })
        self.base = f"http://127.0.0.1:{self.port}"
        harness.wait_http(f"{self.base}/health")
        self.conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)

    def api(self, method, path, body=None, expect=(200,)):
        headers = {"X-API-Key": KEY}
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        self.conn.request(method, path, data, headers)
        resp = self.conn.getresponse()
        text = resp.read()
        if resp.status not in expect:
            raise RuntimeError(f"{self.label}: {method} {path}: {resp.status} {text[:300]!r}")
        return json.loads(text) if text else None

    def tokens(self, prefix, users, max_sessions):
        """Creates token <prefix><u> of user-<u> for every u; returns their ids."""
        return [self.api("POST", "/api/tokens", {"token": f"{prefix}{u}", "user_id": f"user-{u}",
                                                 "max_sessions": max_sessions}, expect=(201,))["id"]
                for u in range(users)]

    def delete_tokens(self, ids):
        for token_id in ids:
            self.api("DELETE", f"/api/tokens/{token_id}", expect=(204,))

    def decisions(self):
        """Every /auth decision taken so far (the sum of flussonic_auth_decisions_total)."""
        with urllib_open(f"{self.base}/metrics") as text:
            return int(sum(float(v) for v in re.findall(r"^flussonic_auth_decisions_total\{[^}]*\} (\S+)$", text, re.M)))

    def open_sessions(self):
        with urllib_open(f"{self.base}/metrics") as text:
            m = re.search(r"^flussonic_auth_open_sessions (\S+)$", text, re.M)
            return int(float(m.group(1))) if m else None

    def script(self, name, text):
        path = os.path.join(self.dir, f"{name}.lua")
        with open(path, "w") as f:
            f.write(text)
        return path

    def measure(self, script, seconds, connections):
        """One timed wrk run; its req/s, p99 and non-2xx, plus the server's CPU per request."""
        before = cpu_seconds(self.proc.pid)
        result = self.run.wrk(f"{self.base}/", script=script, duration=seconds, connections=connections)
        used = cpu_seconds(self.proc.pid) - before
        requests = result["rps"] * seconds
        result["cpu_ms"] = used * 1000 / requests if requests else float("nan")
        return result

    def fill(self, first, count, users, connections):
        """Opens filler sessions [first, first + count) through GET /auth."""
        script = self.script(f"fill-{first}", FILL_LUA.format(first=first, count=count, users=users, query=QUERY,
                                                               sid=FILLER_SID))
        cmd = ["taskset", "-c", self.run.args.wrk_cpus, "wrk", "-t1", f"-c{connections}", "-d3600s",
               "--timeout", "30s", "-s", script, f"{self.base}/"]
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.run.procs.append(proc)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr] + [lines.put(None)],
                         daemon=True).start()
        done = None
        while done is None:
            try:
                line = lines.get(timeout=120)
            except queue.Empty:
                break
            if line is None:
                break
            m = re.match(r"DONE ok=(\d+) failed=(\d+)", line)
            if m:
                done = (int(m.group(1)), int(m.group(2)))
            elif line.strip() != "PROGRESS":
                proc.kill()
                raise RuntimeError(f"wrk (fill): {line.strip()}")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=60)
        if done is None or done[1]:
            raise RuntimeError(f"{self.label}: filling sessions failed: {done}")

    def stop(self):
        """SIGTERM: the clean shutdown writes the queued log rows and checkpoints both files."""
        self.conn.close()
        self.proc.send_signal(signal.SIGTERM)
        if self.proc.wait(timeout=120) != 0:
            raise RuntimeError(f"{self.label}: the backend exited with {self.proc.returncode}")


def urllib_open(url):
    import contextlib
    import urllib.request

    @contextlib.contextmanager
    def opened():
        with urllib.request.urlopen(url, timeout=60) as resp:
            yield resp.read().decode()
    return opened()


def new_sessions_script(backend, prefix, users):
    text = NEW_SESSIONS_LUA.format(users=users, prefix=prefix, run=secrets.token_hex(3), query=QUERY)
    return backend.script(f"new-{prefix}-{secrets.token_hex(3)}", text)


def rounds(run, label, binary, args):
    """Consecutive rounds of new sessions, accumulating."""
    backend = Backend(run, label, binary, env=extra_env(args, label))
    try:
        backend.tokens("tok-", args.users, args.max_sessions)
        results = []
        for _ in range(args.rounds_count):
            script = new_sessions_script(backend, "tok-", args.users)
            results.append(backend.measure(script, args.round_seconds, args.connections))
            results[-1]["open"] = backend.open_sessions()
        return results
    finally:
        backend.stop()


def levels(run, label, binary, args):
    """New sessions and re-checks at each level of open sessions; then the access log's size."""
    backend = Backend(run, label, binary, env=extra_env(args, label))
    rows = []
    try:
        backend.tokens("fill-", args.users, args.max_sessions)
        probes = backend.tokens("probe-", args.users, args.max_sessions)
        filled = 0
        for level in args.levels:
            started = time.monotonic()
            backend.fill(filled, level - filled, args.users, args.connections)
            fill_seconds = time.monotonic() - started
            fill_rate = (level - filled) / fill_seconds
            filled = level
            news = []
            for _ in range(args.rounds):
                script = new_sessions_script(backend, "probe-", args.users)
                news.append(backend.measure(script, args.duration, args.connections))
                # Back to the level: the probe tokens go, and their sessions with them.
                backend.delete_tokens(probes)
                probes = backend.tokens("probe-", args.users, args.max_sessions)
            if backend.open_sessions() != level:
                raise RuntimeError(f"{label}: expected {level} open sessions, the metric says {backend.open_sessions()}")
            recheck = backend.script(f"recheck-{level}", RECHECK_LUA.format(filled=level, users=args.users,
                                                                            query=QUERY, sid=FILLER_SID))
            rechecks = [backend.measure(recheck, args.duration, args.connections) for _ in range(args.rounds)]
            rows.append({"level": level, "new": news, "recheck": rechecks, "fill_rate": fill_rate})
        decisions = backend.decisions()
    finally:
        backend.stop()
    rows.append({"log": dict(log_size(os.path.join(backend.dir, "tokens.logs.db")), decisions=decisions)})
    return rows


def log_size(path):
    """Bytes of the access-log file per row, and how they split."""
    conn = sqlite3.connect(path)
    try:
        count = conn.execute("SELECT COUNT(*) FROM access_logs").fetchone()[0]
        page_size = conn.execute("PRAGMA page_size").fetchone()[0]
        free = conn.execute("PRAGMA freelist_count").fetchone()[0]
        parts = conn.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC").fetchall()
    finally:
        conn.close()
    return {"rows": count, "file": os.path.getsize(path), "free": free * page_size, "parts": parts}


def extra_env(args, label):
    env = {}
    for item in args.env:
        name, _, value = item.partition("=")
        target, _, name = name.rpartition(":")
        if not target or target == label:
            env[name] = value
    return env


def spread(values):
    return max(values) / min(values) - 1 if values and min(values) > 0 else float("nan")


def report(args, binaries, round_results, level_results):
    out = []
    if round_results:
        out.append(f"\nConsecutive rounds of new sessions: {args.users} tokens with max_sessions {args.max_sessions}, "
                   f"{args.rounds_count} x {args.round_seconds} s at {args.connections} connections, sessions accumulating")
        out.append("| binary | round | req/s | p99 ms | CPU ms/decision | open sessions after | non-2xx |")
        out.append("|---|---|---|---|---|---|---|")
        for label, _ in binaries:
            rs = round_results[label]
            for n, r in enumerate(rs, 1):
                out.append(f"| {label} | {n} | {r['rps']:,.0f} | {r['p99_ms']:.2f} | {r['cpu_ms']:.3f} | "
                           f"{r['open']:,} | {r['non2xx']} |")
            rps = [r["rps"] for r in rs]
            out.append(f"| {label} | spread (max/min − 1) | {spread(rps):.0%} | max {max(r['p99_ms'] for r in rs):.2f} | | | |")
    if level_results:
        out.append(f"\nAt each level of open sessions ({args.users} users; new sessions: {args.rounds} x {args.duration} s "
                   f"on probe tokens, reset to the level between rounds; re-checks: {args.rounds} x {args.duration} s "
                   f"of random filler sessions; {args.connections} connections; medians)")
        out.append("| binary | open sessions | new sessions req/s | p99 ms | CPU ms/decision | re-checks req/s | p99 ms | "
                   "CPU ms/decision | fill rate /s |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for label, _ in binaries:
            for row in level_results[label]:
                if "level" not in row:
                    continue
                med = lambda rs, k: statistics.median(r[k] for r in rs)  # noqa: E731
                out.append(f"| {label} | {row['level']:,} | {med(row['new'], 'rps'):,.0f} | {med(row['new'], 'p99_ms'):.2f} | "
                           f"{med(row['new'], 'cpu_ms'):.3f} | {med(row['recheck'], 'rps'):,.0f} | "
                           f"{med(row['recheck'], 'p99_ms'):.2f} | {med(row['recheck'], 'cpu_ms'):.3f} | "
                           f"{row['fill_rate']:,.0f} |")
        out.append("\nAccess log after the levels (clean shutdown)")
        out.append("| binary | decisions | rows | file bytes | bytes per decision | bytes per row | "
                   "of which (bytes per row) |")
        out.append("|---|---|---|---|---|---|---|")
        for label, _ in binaries:
            log = level_results[label][-1]["log"]
            rows = max(log["rows"], 1)
            parts = ", ".join(f"{name} {size / rows:.0f}" for name, size in log["parts"])
            out.append(f"| {label} | {log['decisions']:,} | {log['rows']:,} | {log['file']:,} | "
                       f"{log['file'] / max(log['decisions'], 1):.0f} | {log['file'] / rows:.0f} | {parts}; "
                       f"free {log['free'] / rows:.0f} |")
    out.append(f"\nserver on cpu {args.server_cpus}, wrk on cpu {args.wrk_cpus}")
    print("\n".join(out))


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--binary", action="append", default=[], metavar="LABEL=PATH",
                        help="a backend binary to measure (repeatable); default: this tree's release build")
    parser.add_argument("--only", choices=["rounds", "levels"], help="run one measurement only")
    parser.add_argument("--users", type=int, default=1000, help="users (one token each, plus a probe token)")
    parser.add_argument("--max-sessions", type=int, default=5000,
                        help="every token's limit: set, so that the count runs; high enough that it is never reached")
    parser.add_argument("--levels", default="1000,100000,1000000", help="open sessions to measure at")
    parser.add_argument("--rounds", type=int, default=3, help="rounds per level")
    parser.add_argument("--duration", type=int, default=3, help="seconds per round at a level")
    parser.add_argument("--rounds-count", type=int, default=3, help="consecutive rounds")
    parser.add_argument("--round-seconds", type=int, default=8, help="seconds per consecutive round")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--wrk-cpus", default="1")
    parser.add_argument("--env", action="append", default=[], metavar="[LABEL:]NAME=VALUE",
                        help="an extra variable for the backend (of one binary only, with LABEL:)")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    args.levels = [int(x) for x in args.levels.split(",")]
    binaries = [(label, os.path.abspath(path)) for label, path in (b.split("=", 1) for b in args.binary)] or [
        ("this", os.path.join(ROOT, "target", "release", "flussonic_backend"))]
    if not args.no_build and not args.binary:
        subprocess.run(["cargo", "build", "--release", "-p", "flussonic_backend"], cwd=ROOT, check=True)
    run = harness.Run(args)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    round_results, level_results = {}, {}
    try:
        if args.only in (None, "rounds"):
            for label, binary in binaries:
                round_results[label] = rounds(run, label, binary, args)
                print(f"{label}: rounds done", file=sys.stderr)
        if args.only in (None, "levels"):
            for label, binary in binaries:
                level_results[label] = levels(run, label, binary, args)
                print(f"{label}: levels done", file=sys.stderr)
        report(args, binaries, round_results, level_results)
    finally:
        run.cleanup()


if __name__ == "__main__":
    main()

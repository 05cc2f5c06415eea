#!/usr/bin/env python3
"""Memory at scale of the Flussonic example backend (issue 5: "record peak RSS with
1,000,000 tokens and 100,000 open sessions").

Builds the flussonic_backend crate in release mode, starts it on 127.0.0.1 with a fresh
database in a temporary directory, creates the tokens, opens the sessions through /auth,
runs a short re-check load, and samples the server's memory from /proc/<pid>/status
(VmRSS, VmHWM, RssAnon, RssFile) every 100 ms throughout. Then it stops the server with
SIGTERM (the clean shutdown checkpoints the WAL), restarts it on the same file to see
what an idle backend holding all of that costs, and prints peak RSS, RSS at rest, the
database size and the timings. Everything it starts is stopped and its files removed
when it ends, also on Ctrl-C.

    python3 examples/flussonic_backend/benches/scale.py       # 1,000,000 tokens, 100,000 sessions
    python3 examples/flussonic_backend/benches/scale.py --fill sql   # tokens written with sqlite3, not the API
    python3 examples/flussonic_backend/benches/scale.py --tokens 100000 --sessions 10000

--fill api (the default) creates every token through POST /api/tokens, with wrk on 32
keep-alive connections; --fill sql writes the rows with Python's sqlite3 module into the
schema the backend created on its first start, then restarts the backend. Sessions are
always opened through GET /auth (wrk). The server runs pinned to --server-cpus and wrk to
--wrk-cpus, both at --nice, so that the machine stays usable.

Needs wrk (apt-get install -y wrk) and taskset (util-linux); Python standard library only.
"""

import argparse
import os
import queue
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

# examples/flussonic_backend/benches/ → the workspace's root, where cargo builds.
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
BINARY = os.path.join(ROOT, "target", "release", "flussonic_backend")
KEY = "scale-bench-management-key-0123456789"
STREAM = "live/scale"

# Token i is "tok-<i>" of user "user-<i>", max_sessions 1; session i plays it as "sess-<i>".
TOKEN_BODY = '{"token":"tok-%07d","user_id":"user-%07d","max_sessions":1}'
AUTH_PATH = "/auth?name=" + STREAM + "&ip=10.%d.%d.%d&proto=hls&token=tok-%07d&session_id=sess-%07d"

# One wrk thread sends requests [first, first + count) and then only cheap GET /health; once
# every numbered request is answered it says DONE on stderr, and the driver stops wrk
# (wrk itself only stops after its duration). wrk calls `request` once more on the first
# thread to check what it returns, and never sends that one: it gets the filler.
COUNTED_LUA = """
local first, count = {first}, {count}
local sent, ok, failed, finished, checked = 0, 0, 0, false, false
local headers = {{["X-API-Key"] = "{key}", ["Content-Type"] = "application/json"}}
request = function()
  if sent >= count or not checked then
    checked = true
    return wrk.format("GET", "/health")
  end
  local i = first + sent
  sent = sent + 1
  {make}
end
response = function(status, hdrs, body)
  -- The filler's answers (GET /health) do not count.
  if finished or (status == 200 and hdrs["x-auth-reason"] == nil and body:find("healthy", 1, true)) then
    return
  end
  if status == {expect} then ok = ok + 1 else failed = failed + 1 end
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
MAKE_TOKEN = 'return wrk.format("POST", "/api/tokens", headers, string.format(\'%s\', i, i))' % TOKEN_BODY
ADDRESS = "math.floor(i / 65536) % 256, math.floor(i / 256) % 256, i % 256"
MAKE_SESSION = 'return wrk.format("GET", string.format("%s", %s, i, i))' % (AUTH_PATH, ADDRESS)

RECHECK_LUA = """
math.randomseed(42)
request = function()
  local i = math.random(0, {sessions} - 1)
  return wrk.format("GET", string.format("{path}", {address}, i, i))
end
"""


def mib(kib):
    return f"{kib / 1024:,.1f} MiB"


def size_mib(path):
    try:
        return os.path.getsize(path) / (1024 * 1024)
    except OSError:
        return 0.0


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def proc_status(pid):
    """VmRSS, VmHWM, RssAnon, RssFile in KiB, or None once the process is gone."""
    try:
        with open(f"/proc/{pid}/status") as f:
            text = f.read()
    except OSError:
        return None
    values = {}
    for key in ("VmRSS", "VmHWM", "RssAnon", "RssFile"):
        m = re.search(rf"^{key}:\s+(\d+) kB", text, re.M)
        values[key] = int(m.group(1)) if m else 0
    return values


class Sampler(threading.Thread):
    """Reads the server's memory every 100 ms; keeps the maxima of the current phase."""

    def __init__(self, wal):
        super().__init__(daemon=True)
        self.wal = wal
        self.lock = threading.Lock()
        self.pid = None
        self.phase = None
        self.maxima = {}
        self.last = None
        self.stopped = threading.Event()

    def watch(self, pid, phase):
        with self.lock:
            self.pid, self.phase = pid, phase
            self.maxima.setdefault(phase, {"VmRSS": 0, "RssAnon": 0, "RssFile": 0, "VmHWM": 0, "WAL": 0.0})
        self.sample()

    def sample(self):
        with self.lock:
            if self.pid is None:
                return None
            status = proc_status(self.pid)
            if status:
                status["WAL"] = size_mib(self.wal)
                self.last = status
                phase = self.maxima[self.phase]
                for key in phase:
                    phase[key] = max(phase[key], status[key])
            return status

    def run(self):
        while not self.stopped.wait(0.1):
            self.sample()


class Bench:
    """Owns the processes and files of one run."""

    def __init__(self, args):
        self.args = args
        self.tmp = tempfile.mkdtemp(prefix="flussonic-scale-")
        self.db = os.path.join(self.tmp, "tokens.db")
        self.server = None
        self.children = []
        self.sampler = Sampler(self.db + "-wal")
        self.sampler.start()
        self.generation = 0
        self.rows = []  # (phase, seconds, note)

    def cleanup(self):
        self.sampler.stopped.set()
        for proc in self.children:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        for proc in self.children:
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(self.tmp, ignore_errors=True)

    def pinned(self, cpus, cmd):
        return ["nice", "-n", str(self.args.nice), "taskset", "-c", cpus] + cmd

    def start_server(self, phase):
        """Starts the backend on the database file; returns seconds until /health answered."""
        self.generation += 1
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = dict(os.environ, API_HOST="127.0.0.1", API_PORT=str(self.port), API_KEY=KEY,
                   DATABASE_URL=self.db, LOG_LEVEL="warn", AUTH_DURATION="3600",
                   ENABLE_ACCESS_LOGS="true" if self.args.access_logs else "false")
        log = open(os.path.join(self.tmp, f"server-{self.generation}.log"), "w")
        started = time.monotonic()
        # nice and taskset exec the binary: the pid is the server's.
        self.server = subprocess.Popen(self.pinned(self.args.server_cpus, [BINARY]), env=env, cwd=self.tmp,
                                       stdout=log, stderr=subprocess.STDOUT)
        self.children.append(self.server)
        self.sampler.watch(self.server.pid, phase)
        deadline = started + 120
        while True:
            if self.server.poll() is not None:
                raise RuntimeError(f"the backend exited on start: see {log.name}:\n" + open(log.name).read())
            try:
                with urllib.request.urlopen(f"{self.base}/health", timeout=1) as resp:
                    if resp.status == 200:
                        seconds = time.monotonic() - started
                        self.sampler.sample()
                        return seconds
            except (urllib.error.URLError, ConnectionError, socket.timeout):
                pass
            if time.monotonic() > deadline:
                raise RuntimeError("the backend did not become healthy in 120 s")
            time.sleep(0.05)

    def stop_server(self, phase=None):
        """SIGTERM (clean shutdown: the WAL is checkpointed); returns seconds until exit."""
        started = time.monotonic()
        if phase:
            self.sampler.watch(self.server.pid, phase)
        else:
            self.sampler.sample()
        self.server.send_signal(signal.SIGTERM)
        code = self.server.wait(timeout=120)
        if code != 0:
            raise RuntimeError(f"the backend exited with {code} on SIGTERM")
        with self.sampler.lock:
            self.sampler.pid = None
        return time.monotonic() - started

    def wrk_counted(self, lua_make, expect, first, count, label):
        """Sends `count` numbered requests through wrk; returns (seconds, ok, failed, wrk summary)."""
        script = os.path.join(self.tmp, f"{label}.lua")
        with open(script, "w") as f:
            f.write(COUNTED_LUA.format(first=first, count=count, key=KEY, make=lua_make, expect=expect))
        cmd = self.pinned(self.args.wrk_cpus, ["wrk", "-t1", f"-c{self.args.connections}", "-d3600s",
                                               "--timeout", "30s", "-s", script, f"{self.base}/"])
        started = time.monotonic()
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.children.append(proc)
        lines = queue.Queue()
        threading.Thread(target=lambda: [lines.put(line) for line in proc.stderr] + [lines.put(None)],
                         daemon=True).start()
        done = None
        while done is None:
            try:
                # A progress line every 10,000 answers; none for a minute: something is stuck.
                line = lines.get(timeout=60)
            except queue.Empty:
                break
            if line is None or self.server.poll() is not None:
                break
            m = re.match(r"DONE ok=(\d+) failed=(\d+)", line)
            if m:
                done = (int(m.group(1)), int(m.group(2)))
            elif line.strip() != "PROGRESS":
                # A Lua error: wrk then sends plain GET / and never stops by itself.
                proc.kill()
                proc.wait()
                raise RuntimeError(f"wrk ({label}): {line.strip()}")
        seconds = time.monotonic() - started
        # SIGINT ends wrk's wait for its duration: it prints its summary and exits.
        proc.send_signal(signal.SIGINT)
        out, _ = proc.communicate(timeout=60)
        if done is None:
            raise RuntimeError(f"wrk ({label}) ended before its requests were answered:\n{out}")
        return seconds, done[0], done[1], out

    def wrk_timed(self, script_text, seconds, label):
        script = os.path.join(self.tmp, f"{label}.lua")
        with open(script, "w") as f:
            f.write(script_text)
        cmd = self.pinned(self.args.wrk_cpus, ["wrk", "--latency", "-t1", f"-c{self.args.connections}",
                                               f"-d{seconds}s", "-s", script, f"{self.base}/"])
        proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        self.children.append(proc)
        out, err = proc.communicate(timeout=seconds + 60)
        if proc.returncode != 0:
            raise RuntimeError(f"wrk ({label}) failed: {err}")
        return out

    def api_get(self, path):
        req = urllib.request.Request(f"{self.base}{path}", headers={"X-API-Key": KEY})
        with urllib.request.urlopen(req, timeout=60) as resp:
            return resp.read().decode()

    def metric(self, name):
        with urllib.request.urlopen(f"{self.base}/metrics", timeout=60) as resp:
            m = re.search(rf"^{name} (\S+)$", resp.read().decode(), re.M)
            return float(m.group(1)) if m else None

    def db_sizes(self):
        sizes = {suffix or "db": size_mib(self.db + suffix) for suffix in ("", "-wal", "-shm")}
        # The access log has a file of its own beside the database (ACCESS_LOG_DATABASE_URL's default).
        logs = self.db[: -len(".db")] + ".logs.db"
        sizes.update({"logs" + suffix: size_mib(logs + suffix) for suffix in ("", "-wal")})
        return sizes

    def fill_sql(self, count):
        """Writes `count` token rows as the API would (same columns, same formats)."""
        now = time.strftime("%Y-%m-%dT%H:%M:%S.000000Z", time.gmtime())
        conn = sqlite3.connect(self.db)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        with conn:
            conn.executemany(
                "INSERT INTO tokens (token, user_id, status, max_sessions, valid_from, valid_until,"
                " allowed_ips, allowed_streams, meta, created_at, updated_at)"
                " VALUES (?, ?, 'active', 1, ?, NULL, '[]', '[]', NULL, ?, ?)",
                ((f"tok-{i:07d}", f"user-{i:07d}", now, now, now) for i in range(count)))
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        conn.close()


def run(args, bench):
    if not args.no_build:
        t = time.monotonic()
        subprocess.run(["cargo", "build", "--release", "-p", "flussonic_backend"], cwd=ROOT, check=True)
        print(f"build: {time.monotonic() - t:.1f} s", file=sys.stderr)

    timings = []
    startup = bench.start_server("1 start, empty database")
    timings.append(("start on an empty database", startup, ""))
    idle_empty = bench.sampler.sample()

    # Tokens.
    if args.fill == "api":
        bench.sampler.watch(bench.server.pid, "2 create tokens (POST /api/tokens)")
        seconds, ok, failed, _ = bench.wrk_counted(MAKE_TOKEN, 201, 0, args.tokens, "tokens")
        if failed:
            raise RuntimeError(f"{failed} POST /api/tokens were not answered 201")
        how = f"POST /api/tokens through wrk, {args.connections} keep-alive connections"
        timings.append(("create tokens", seconds, f"{ok / seconds:,.0f} tokens/s, {how}"))
    else:
        bench.stop_server()
        t = time.monotonic()
        bench.fill_sql(args.tokens)
        seconds = time.monotonic() - t
        how = "rows written with Python's sqlite3 into the backend's schema, then the backend restarted"
        timings.append(("write token rows (sqlite3)", seconds, f"{args.tokens / seconds:,.0f} rows/s"))
        startup = bench.start_server("2 restart with the tokens")
        timings.append(("restart with the tokens", startup, ""))
    last, beyond = (bench.api_get(f"/api/tokens?skip={skip}&limit=10") for skip in (args.tokens - 1, args.tokens))
    if last.count('"token"') != 1 or beyond != "[]":
        raise RuntimeError(f"expected exactly {args.tokens} tokens; the last page is {last[:300]}")

    # Sessions.
    bench.sampler.watch(bench.server.pid, "3 open sessions (GET /auth)")
    seconds, ok, failed, _ = bench.wrk_counted(MAKE_SESSION, 200, 0, args.sessions, "sessions")
    if failed:
        raise RuntimeError(f"{failed} of the session-opening /auth requests were not answered 200")
    timings.append(("open sessions", seconds, f"{ok / seconds:,.0f} sessions/s"))
    open_sessions = bench.metric("flussonic_auth_open_sessions")
    if open_sessions != args.sessions:
        raise RuntimeError(f"flussonic_auth_open_sessions is {open_sessions}, expected {args.sessions}")

    # Re-checks.
    bench.sampler.watch(bench.server.pid, "4 re-check load (GET /auth)")
    out = bench.wrk_timed(RECHECK_LUA.format(sessions=args.sessions, path=AUTH_PATH, address=ADDRESS), args.recheck_seconds,
                          "recheck")
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    p99 = re.search(r"^\s+99%\s+(\S+)", out, re.M).group(1)
    non2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    errors = re.search(r"Socket errors: (.*)", out)
    if non2xx or errors:
        raise RuntimeError(f"re-checks failed:\n{out}")
    timings.append(("re-check load", float(args.recheck_seconds), f"{rps:,.0f} re-checks/s, p99 {p99}"))

    # At rest.
    bench.sampler.watch(bench.server.pid, "5 at rest")
    time.sleep(args.rest_seconds)
    rest = bench.sampler.sample()
    sizes_running = bench.db_sizes()
    loaded_hwm = rest["VmHWM"]
    shutdown = bench.stop_server("6 clean shutdown (SIGTERM)")
    # VmHWM only grows: the last phase of the first process holds its lifetime peak.
    lifetime_hwm = bench.sampler.maxima["6 clean shutdown (SIGTERM)"]["VmHWM"]
    timings.append(("clean shutdown (SIGTERM)", shutdown, ""))
    sizes_closed = bench.db_sizes()

    # A fresh process on the full database.
    startup = bench.start_server("7 restarted, idle")
    timings.append(("restart on the full database", startup, ""))
    if bench.metric("flussonic_auth_open_sessions") != args.sessions:
        raise RuntimeError("the sessions did not survive the restart")
    time.sleep(args.rest_seconds)
    restarted = bench.sampler.sample()
    bench.stop_server()

    # The report.
    print(f"\nflussonic_backend at scale: {args.tokens:,} tokens, {args.sessions:,} open sessions, "
          f"access logs {'on' if args.access_logs else 'off'}")
    print(f"tokens: {how}")
    print(f"sessions: GET /auth through wrk, {args.connections} keep-alive connections, one session per token")
    print(f"server on cpu {args.server_cpus}, wrk on cpu {args.wrk_cpus}, nice {args.nice}; memory sampled every 100 ms\n")
    print(f"peak RSS (VmHWM) through the load and the rest after it: {mib(loaded_hwm)}")
    print(f"peak RSS (VmHWM) over the process's life, its clean shutdown included: {mib(lifetime_hwm)} "
          "(last sample before exit)")
    print(f"RSS at rest after the load ({args.rest_seconds} s idle): {mib(rest['VmRSS'])} "
          f"(anonymous {mib(rest['RssAnon'])}, file-backed {mib(rest['RssFile'])})")
    print(f"RSS idle with an empty database: {mib(idle_empty['VmRSS'])}")
    print(f"RSS of a restarted process on the full database ({args.rest_seconds} s idle): {mib(restarted['VmRSS'])} "
          f"(anonymous {mib(restarted['RssAnon'])}, file-backed {mib(restarted['RssFile'])})")
    print(f"database while running: tokens.db {sizes_running['db']:,.1f} MiB, -wal {sizes_running['-wal']:,.1f} MiB, "
          f"-shm {sizes_running['-shm']:,.1f} MiB; tokens.logs.db {sizes_running['logs']:,.1f} MiB, "
          f"-wal {sizes_running['logs-wal']:,.1f} MiB")
    print(f"database after the clean shutdown: tokens.db {sizes_closed['db']:,.1f} MiB, "
          f"-wal {sizes_closed['-wal']:,.1f} MiB; tokens.logs.db {sizes_closed['logs']:,.1f} MiB, "
          f"-wal {sizes_closed['logs-wal']:,.1f} MiB")
    print("file-backed RSS is mostly the database file mapped by SQLite (PRAGMA mmap_size = 256 MiB on each "
          "connection): page cache, shared with the kernel and counted once per connection that maps it")
    print("\nmemory by phase (maxima of the samples):")
    header = ("phase", "VmRSS", "RssAnon", "RssFile", "VmHWM", "WAL file")
    rows = [(phase, mib(m["VmRSS"]), mib(m["RssAnon"]), mib(m["RssFile"]), mib(m["VmHWM"]), f"{m['WAL']:,.1f} MiB")
            for phase, m in bench.sampler.maxima.items()]
    table(header, rows)
    print("\ntimings:")
    table(("step", "seconds", ""), [(name, f"{s:.1f}", note) for name, s, note in timings])


def table(header, rows):
    widths = [max(len(str(r[i])) for r in rows + [header]) for i in range(len(header))]
    for row in [header] + rows:
        print("  " + "  ".join(str(c).ljust(w) for c, w in zip(row, widths)).rstrip())


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tokens", type=int, default=1_000_000)
    parser.add_argument("--sessions", type=int, default=100_000)
    parser.add_argument("--fill", choices=["api", "sql"], default="api", help="how the tokens are created")
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--recheck-seconds", type=int, default=10)
    parser.add_argument("--rest-seconds", type=int, default=5)
    parser.add_argument("--server-cpus", default="0")
    parser.add_argument("--wrk-cpus", default="1")
    parser.add_argument("--nice", type=int, default=10, help="niceness of the server and wrk")
    parser.add_argument("--no-access-logs", dest="access_logs", action="store_false")
    parser.add_argument("--no-build", action="store_true")
    args = parser.parse_args()
    if not 0 < args.sessions <= args.tokens <= 9_999_999:
        sys.exit("need 0 < --sessions <= --tokens <= 9,999,999")
    if not shutil.which("wrk"):
        sys.exit("wrk is not installed: apt-get install -y wrk")

    bench = Bench(args)
    # Ctrl-C (even if the shell started us with SIGINT ignored) and SIGTERM unwind
    # through the cleanup.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    try:
        run(args, bench)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        bench.cleanup()


if __name__ == "__main__":
    main()

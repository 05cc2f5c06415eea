#!/usr/bin/env python3
"""Load benchmark of the Flussonic backend over loopback: /auth re-checks, new sessions,
denies, and a management listing, measured with wrk through the workspace's load harness
(benches/load.py at the repository's root: the same method and the same table as the
library's load benchmark, see BENCHMARKS.md).

Builds the backend in release mode, starts it on 127.0.0.1 with a fresh database in a
temporary directory and access logging on, creates its tokens through the management API,
warms every scenario up, then measures the rounds interleaved. The server runs pinned to
--server-cpus and wrk to --wrk-cpus. Everything it starts is stopped and its files removed
when it ends, also on Ctrl-C.

    python3 examples/flussonic_backend/benches/load.py                        # 3 rounds of 5 s
    python3 examples/flussonic_backend/benches/load.py --rounds 3 --duration 5 --markdown
    python3 examples/flussonic_backend/benches/load.py --no-build \
        --binary before=/tmp/flussonic_backend-old --binary after=target/release/flussonic_backend

With --binary (repeatable), each binary gets a server of its own and its own rows, measured
interleaved with the others' in every round, so that a before/after comparison shares the
machine's conditions.

Needs wrk (apt-get install -y wrk) and taskset (util-linux).
"""

import os
import subprocess
import sys
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, os.path.join(ROOT, "benches"))
import load as harness  # noqa: E402  (the workspace's harness, found through the path above)

BINARY = os.path.join(ROOT, "target", "release", "flussonic_backend")
KEY = harness.MASTER

NEW_SESSION_LUA = """
counter = 0
request = function()
  counter = counter + 1
  local path = "/auth?name=live%2Fbench&proto=hls&ip=10.0.0.1&token=bench-unlimited&request_type=new_session"
    .. "&request_number=0&stream_clients=1&total_clients=1&session_id=" .. id .. "-" .. counter
  return wrk.format("GET", path)
end
setup = function(thread)
  thread:set("id", tostring(math.random(1, 1000000000)))
end
"""


def scenarios(run, binary=BINARY, label=None):
    if not os.path.exists(binary):
        sys.exit(f"{binary} is not built: run without --no-build")
    port = harness.free_port()
    name = f"flussonic-{label}" if label else "flussonic"
    data = os.path.join(run.tmp, name)
    os.makedirs(data)
    run.start(name, binary, {
        "API_HOST": "127.0.0.1", "API_PORT": str(port), "API_KEY": KEY,
        "DATABASE_URL": f"sqlite:///{data}/tokens.db", "ENABLE_ACCESS_LOGS": "true",
        "AUTH_DURATION": "3600",
    })
    base = f"http://127.0.0.1:{port}"
    harness.wait_http(f"{base}/health")
    api = {"X-API-Key": KEY}
    get_json = harness.get_json
    get_json(f"{base}/api/tokens", api, "POST",
             {"token": "bench-unlimited", "user_id": "bench-user", "max_sessions": 0})
    get_json(f"{base}/api/tokens", api, "POST", {"token": "bench-recheck", "user_id": "recheck-user",
                                                 "max_sessions": 10})
    get_json(f"{base}/api/tokens", api, "POST", {"token": "bench-suspended", "user_id": "suspended-user",
                                                 "status": "suspended"})
    for i in range(100):
        get_json(f"{base}/api/tokens", api, "POST", {"token": f"list-{i:03}", "user_id": f"user-{i}"})
    query = "name=live%2Fbench&proto=hls&ip=10.0.0.1&stream_clients=1&total_clients=1"
    recheck = f"{base}/auth?{query}&token=bench-recheck&request_type=update_session&request_number=1&session_id=s-1"
    urllib.request.urlopen(recheck.replace("update_session&request_number=1", "new_session&request_number=0"))
    script = os.path.join(data, "new_session.lua")
    with open(script, "w") as f:
        f.write(NEW_SESSION_LUA)
    prefix = f"flussonic[{label}]" if label else "flussonic"
    return [
        (f"{prefix} /auth re-check (update_session)", None, lambda d=None: run.wrk(recheck, duration=d)),
        (f"{prefix} /auth new session", None, lambda d=None: run.wrk(f"{base}/", script=script, duration=d)),
        (f"{prefix} /auth deny, unknown token", None,
         lambda d=None: run.wrk(f"{base}/auth?{query}&token=nope&request_type=new_session&session_id=x",
                                duration=d)),
        (f"{prefix} /auth deny, suspended token", None,
         lambda d=None: run.wrk(f"{base}/auth?{query}&token=bench-suspended&request_type=new_session&session_id=x",
                                duration=d)),
        (f"{prefix} GET /api/tokens?limit=100", None,
         lambda d=None: run.wrk(f"{base}/api/tokens?limit=100", [f"X-API-Key: {KEY}"], duration=d)),
    ]


def take_binaries():
    """Removes every `--binary LABEL=PATH` from the command line (the harness parses the
    rest) and returns them."""
    binaries, rest, argv = [], [sys.argv[0]], iter(sys.argv[1:])
    for arg in argv:
        if arg == "--binary":
            value = next(argv, "")
        elif arg.startswith("--binary="):
            value = arg.split("=", 1)[1]
        else:
            rest.append(arg)
            continue
        label, _, path = value.partition("=")
        if not path:
            sys.exit(f"--binary {value}: expected LABEL=PATH")
        binaries.append((label, os.path.abspath(path)))
    sys.argv = rest
    return binaries


def main():
    binaries = take_binaries()
    args = harness.arguments(__doc__)
    if not args.no_build and not binaries:
        subprocess.run(["cargo", "build", "--release", "-p", "flussonic_backend"], cwd=ROOT, check=True)
    if not binaries:
        harness.run_scenarios(args, [scenarios])
        return
    builders = [lambda run, b=binary, l=label: scenarios(run, b, l) for label, binary in binaries]
    # Interleaved by scenario: each scenario of every binary, then the next scenario.
    def interleaved(run):
        lists = [build(run) for build in builders]
        return [row for group in zip(*lists) for row in group]
    harness.run_scenarios(args, [interleaved])


if __name__ == "__main__":
    main()

"""Old code against new over real HTTP, at the same moment: what a change gained, on a machine whose speed drifts.

Two gunicorn servers (one worker each) over the bench's data set (``bench/run.py`` makes it): one runs this tree,
the other a checkout of an earlier commit (``git worktree``, removed afterwards). Each page is requested from both,
alternately, round by round, as one logged-in user; prints each page's p50 for both and the difference.

    python bench/ab.py --old 6ff7031 --backend postgres --user bench_mgr /admin/customer/ /admin/
"""
import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
sys.path.insert(0, os.path.join(ROOT, "tests"))

from bench import datagen  # noqa: E402
from bench.run import prepare  # noqa: E402
from servers import Browser  # noqa: E402
from servers import Server  # noqa: E402


def compare(url, old_root, user, paths, rounds, instance):
    """Return [(path, old p50 ms, new p50 ms)], the first two rounds left out (each worker's first requests)."""
    servers = {"old": Server(url, instance, root=old_root), "new": Server(url, instance, root=ROOT)}
    try:
        browsers = {}
        for name, server in servers.items():
            browsers[name] = Browser()
            browsers[name].login(server.base, user, datagen.PASSWORD)
        result = []
        for path in paths:
            times = {"old": [], "new": []}
            for i in range(rounds):
                for name in ("old", "new") if i % 2 else ("new", "old"):
                    started = time.perf_counter()
                    browsers[name].request(servers[name].base + path)
                    times[name].append(time.perf_counter() - started)
            result.append((path, *(statistics.median(times[k][2:]) * 1000 for k in ("old", "new"))))
        return result
    finally:
        for server in servers.values():
            server.stop()


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--old", required=True, help="the earlier commit (any git revision)")
    parser.add_argument("--backend", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--user", default="bench_top", help="bench_top, bench_low or bench_mgr")
    parser.add_argument("--rounds", type=int, default=30)
    parser.add_argument("paths", nargs="+")
    args = parser.parse_args(argv)
    url, pg, _ = prepare(args.backend, args.scale, print)
    instance = tempfile.mkdtemp(prefix="bench-ab-")
    old_root = os.path.join(instance, "old")
    subprocess.run(["git", "-C", ROOT, "worktree", "add", "--detach", old_root, args.old], check=True,
                   capture_output=True)
    try:
        for path, old, new in compare(url, old_root, args.user, args.paths, args.rounds, instance):
            print(f"{path:40s} old {old:7.1f}  new {new:7.1f}  ({new - old:+.1f} ms, {new / old:.2f}×)", flush=True)
    finally:
        subprocess.run(["git", "-C", ROOT, "worktree", "remove", "--force", old_root], check=False)
        shutil.rmtree(instance, ignore_errors=True)
        if pg is not None:
            pg.stop()


if __name__ == "__main__":
    main()

"""Benchmark: uploading a backup set to S3, the manual's `aws s3 cp` against backup-console's upload.

Makes a real config backup set whose tarball holds ``--megabytes`` MiB of os.urandom data
(incompressible), starts moto's S3 server (ThreadedMotoServer, in its own process, as
tests/conftest.py's ``s3_endpoint`` does) and uploads that same tarball, each ``--runs`` times,
round-robin (median reported):

* the manual: ``aws s3 cp FILE s3://bucket/key --storage-class STANDARD_IA --metadata ...
  --sse AES256`` (its PostgreSQL upload's flags; aws-cli v1's defaults: 8 MiB parts, 10 at once);
* ours: ``console.offsite.upload_set`` in a fresh Python process, one contender per ``--ours``
  concurrency x part size (default 8 x 8 MiB, the shipped defaults): parts each with their own
  SHA-256 checked by the server while the file's SHA-256 is taken on the way, the stored copy
  checked, then the set's manifest uploaded and rewritten. With ``--before COMMIT`` each of ours
  also runs from that commit's tree (``git archive``), round-robin with the rest: old and new
  code under the same load.

Both networks are measured: moto straight on loopback, and through a delay line (a TCP proxy in
this process where every byte waits ``--rtt-ms``/2 in each direction) standing for a WAN link.
Wall time is the whole child process (interpreter start-up and imports included, as an operator
would wait for it); peak RSS is that process's.

    .venv/bin/python bench/s3_upload.py --megabytes 256 --runs 3     # about 1 minute
"""

from __future__ import annotations

import argparse
import json
import os
import queue
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any, Callable

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

BUCKET = "bench-upload"
CHUNK = 256 * 1024
IN_FLIGHT_CHUNKS = 64
"""Reads (of up to CHUNK bytes) held in the delay line per direction and connection: a window of
up to 16 MiB per half round trip, so the latency, not this bound, is what the uploads feel."""

MOTO_CODE = """
import logging, sys
logging.getLogger("werkzeug").setLevel(logging.ERROR)  # no line per request
from moto.server import ThreadedMotoServer
server = ThreadedMotoServer(ip_address="127.0.0.1", port=int(sys.argv[1]), verbose=False)
server.start()
sys.stdin.read()  # until the bench closes our stdin
server.stop()
"""

TIMED_CODE = """
import json, resource, subprocess, sys, time
started = time.perf_counter()
proc = subprocess.run(json.loads(sys.argv[1]), stdout=subprocess.PIPE)
seconds = time.perf_counter() - started
lines = proc.stdout.decode(errors="replace").strip().splitlines()
usage = resource.getrusage(resource.RUSAGE_CHILDREN)
print(json.dumps({"seconds": seconds, "returncode": proc.returncode, "last_line": lines[-1] if lines else "",
                  "rss_kib": usage.ru_maxrss, "cpu": usage.ru_utime + usage.ru_stime}))
"""
"""Runs one contender as its own child and reports its wall time and peak RSS (nothing else's)."""

OURS_CODE = """
import time
START = time.perf_counter()
import json, resource, sys
sys.path.insert(0, sys.argv[1])
from console.catalog import scan
from console.config import load_settings
from console.offsite import upload as offsite
settings = load_settings(None, env={}, overrides=json.loads(sys.argv[2]))
backup_set = scan(settings.backup_dir, ["config"]).find(sys.argv[3])
marks = {}
def seen(event):
    step = event.phase.split()[0]
    marks.setdefault(step, [time.perf_counter(), 0.0])[1] = time.perf_counter()
begin = time.perf_counter()
result = offsite.upload_set(settings, backup_set, on_progress=seen)
end = time.perf_counter()
(up_start, up_end) = marks["upload"]
sum_start = marks.get("checksum", [up_start])[0]  # no separate pass when the parts are hashed on the way
print(f"#   phases: import+setup {begin - START:.2f} s, client+head_bucket {sum_start - begin:.2f} s, "
      f"SHA-256 pass {up_start - sum_start:.2f} s, parts {up_end - up_start:.2f} s, "
      f"check+manifest {end - up_end:.2f} s", file=sys.stderr)
print(json.dumps({"parts": max(item.parts for item in result.objects),
                  "rss_kib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}))
"""


# --- the WAN stand-in ------------------------------------------------------------------------------


class DelayLine:
    """A TCP proxy on loopback adding ``rtt`` seconds of round trip to everything through it.

    Every chunk read from one side is sent on to the other side half a round trip later, so each
    request/answer exchange (and each ``Expect: 100-continue`` handshake) costs at least one full
    round trip, as over a WAN. Opening a connection costs nothing: moto's server (Werkzeug)
    answers ``Connection: close`` to every request, where S3 keeps connections alive, so charging
    a handshake here would bill every request a round trip it does not pay against S3. Only
    latency is modelled: no bandwidth cap, no loss, no slow start.
    """

    def __init__(self, upstream_port: int, rtt: float) -> None:
        self.upstream_port = upstream_port
        self.rtt = rtt
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.connections = 0
        """Connections opened through the line: one per request, as moto closes each after its answer."""
        threading.Thread(target=self._accept, daemon=True).start()

    @property
    def endpoint(self) -> str:
        return f"http://127.0.0.1:{self.listener.getsockname()[1]}"

    def close(self) -> None:
        self.listener.close()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            self.connections += 1
            threading.Thread(target=self._connect, args=(client,), daemon=True).start()

    def _connect(self, client: socket.socket) -> None:
        upstream = socket.create_connection(("127.0.0.1", self.upstream_port))
        sockets = (client, upstream)
        for sock in sockets:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        open_directions = [2]
        lock = threading.Lock()

        def direction_done() -> None:
            with lock:
                open_directions[0] -= 1
                if open_directions[0]:
                    return
            for sock in sockets:
                sock.close()

        for source, sink in ((client, upstream), (upstream, client)):
            line: queue.Queue[tuple[float, bytes]] = queue.Queue(maxsize=IN_FLIGHT_CHUNKS)
            threading.Thread(target=self._read, args=(source, line), daemon=True).start()
            threading.Thread(target=self._write, args=(line, sink, direction_done), daemon=True).start()

    def _read(self, source: socket.socket, line: queue.Queue[tuple[float, bytes]]) -> None:
        try:
            while data := source.recv(CHUNK):
                line.put((time.monotonic() + self.rtt / 2, data))
        except OSError:
            pass
        line.put((time.monotonic() + self.rtt / 2, b""))

    @staticmethod
    def _write(line: queue.Queue[tuple[float, bytes]], sink: socket.socket, done: Callable[[], None]) -> None:
        broken = False
        while True:
            due, data = line.get()
            if (wait := due - time.monotonic()) > 0:
                time.sleep(wait)
            if not data:
                break
            if not broken:  # keep draining after a failure, so the reader never blocks on a full line
                try:
                    sink.sendall(data)
                except OSError:
                    broken = True
        try:
            sink.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        done()


# --- servers, data, contenders ----------------------------------------------------------------------


def start_moto(env: dict[str, str]) -> tuple[subprocess.Popen[bytes], int]:
    from tests.servers import free_port

    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", MOTO_CODE, str(port)], stdin=subprocess.PIPE, env=env)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise RuntimeError(f"moto server did not listen on port {port} within 30 s")


def make_set(out: Path, megabytes: int, endpoint: str) -> tuple[Any, Path]:
    """A real config backup set whose tarball carries ``megabytes`` MiB of random data."""
    from console.kinds.base import BackupRequest
    from console.runner import execute
    from console.catalog import scan
    from console.config import load_settings

    source = out / "app"
    source.mkdir()
    with open(source / "blob.bin", "wb") as blob:
        for _ in range(megabytes):
            blob.write(os.urandom(1 << 20))
    (source / "app.yml").write_text("name: app\n")
    settings = load_settings(None, env={}, overrides={**bucket_overrides(endpoint), "backup_dir": str(out / "backups"),
                                                      "config_backup.source_dir": str(source)})
    result = execute(settings, BackupRequest("config", None))
    if not result.ok:
        raise RuntimeError(f"config backup failed: {result.message}")
    shutil.rmtree(source)
    backup_set = scan(settings.backup_dir, ["config"]).find(result.set_id)
    assert backup_set is not None, result.set_id
    return backup_set, backup_set.file("tarball").path


def bucket_overrides(endpoint: str) -> dict[str, Any]:
    return {"s3.bucket": BUCKET, "s3.endpoint_url": endpoint, "s3.region": "us-east-1"}


def aws_argv(endpoint: str, tarball: Path, stamp: str) -> list[str]:
    aws = shutil.which("aws")
    if aws is None:
        raise RuntimeError("aws-cli (`aws`) not found on PATH")
    return [aws, "s3", "cp", str(tarball), f"s3://{BUCKET}/aws-cli/{tarball.name}", "--endpoint-url", endpoint,
            "--storage-class", "STANDARD_IA", "--metadata", f"backup-type=config,timestamp={stamp}", "--sse", "AES256"]


def ours_argv(endpoint: str, backup_dir: Path, set_id: str, concurrency: int, part_mb: int = 16,
              tree: Path = ROOT) -> list[str]:
    overrides = {**bucket_overrides(endpoint), "backup_dir": str(backup_dir), "s3.upload_concurrency": concurrency,
                 "s3.part_size_mb": part_mb}
    return [sys.executable, "-c", OURS_CODE, str(tree), json.dumps(overrides), set_id]


def tree_of(commit: str, out: Path) -> Path:
    """That commit's files under ``out/before`` (``git archive``): the old code, run the same way."""
    tree = out / "before"
    tree.mkdir()
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", commit], check=True, capture_output=True)
    subprocess.run(["tar", "-x", "-C", str(tree)], input=archive.stdout, check=True)
    return tree


def run_timed(argv: list[str], env: dict[str, str]) -> dict[str, Any]:
    proc = subprocess.run([sys.executable, "-c", TIMED_CODE, json.dumps(argv)], stdout=subprocess.PIPE, env=env,
                          check=True)
    report = json.loads(proc.stdout)
    if report["returncode"]:
        raise RuntimeError(f"{' '.join(argv[:3])} failed with exit {report['returncode']}")
    return report


def empty_bucket(client: Any) -> None:
    for upload in client.list_multipart_uploads(Bucket=BUCKET).get("Uploads", []):
        client.abort_multipart_upload(Bucket=BUCKET, Key=upload["Key"], UploadId=upload["UploadId"])
    for entry in client.list_objects_v2(Bucket=BUCKET).get("Contents", []):
        client.delete_object(Bucket=BUCKET, Key=entry["Key"])


def stored_sizes(client: Any) -> list[int]:
    return [entry["Size"] for entry in client.list_objects_v2(Bucket=BUCKET).get("Contents", [])]


def child_environment(out: Path) -> dict[str, str]:
    """Dummy credentials and no trace of the operator's own AWS or backup-console configuration."""
    env = {name: value for name, value in os.environ.items()
           if not name.startswith(("AWS_", "BACKUP_")) and name != "BACKUP_CONSOLE_CONFIG"}
    env.update({"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_DEFAULT_REGION": "us-east-1",
                "AWS_CONFIG_FILE": str(out / "no-aws-config"), "AWS_SHARED_CREDENTIALS_FILE": str(out / "no-aws-credentials"),
                "TMPDIR": str(out)})  # moto spools stored objects to TMPDIR: keep them on the scratch tmpfs
    return env


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--megabytes", type=int, default=256, help="random data in the set, MiB (default 256)")
    parser.add_argument("--runs", type=int, default=3, help="runs per contender and network; the median is reported")
    parser.add_argument("--rtt-ms", type=float, default=40.0, help="round trip added by the WAN stand-in (default 40)")
    parser.add_argument("--out", default="/dev/shm/bc-bench-s3", help="scratch directory (tmpfs is best)")
    parser.add_argument("--ours", default="8x8", metavar="CxM,...",
                        help="our contenders: upload_concurrency x part_size_mb (default 8x8)")
    parser.add_argument("--before", metavar="COMMIT", help="also run ours as of this commit, side by side")
    args = parser.parse_args()
    out = Path(args.out)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    env = child_environment(out)
    os.environ.clear()
    os.environ.update(env)
    import boto3

    moto, port = start_moto(env)
    proxy = DelayLine(port, args.rtt_ms / 1000)
    try:
        moto_endpoint = f"http://127.0.0.1:{port}"
        client = boto3.client("s3", endpoint_url=moto_endpoint, region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        started = time.perf_counter()
        backup_set, tarball = make_set(out, args.megabytes, moto_endpoint)
        size = tarball.stat().st_size
        print(f"# set {backup_set.set_id}: {tarball.name}, {size / 2**20:.1f} MiB, made in "
              f"{time.perf_counter() - started:.1f} s", file=sys.stderr)
        networks = {"loopback": moto_endpoint, f"+{args.rtt_ms:.0f} ms RTT": proxy.endpoint}
        contenders: dict[str, Callable[[str], list[str]]] = {
            "manual: `aws s3 cp` (aws-cli v1: 8 MiB parts, 10 at once)":
                lambda endpoint: aws_argv(endpoint, tarball, backup_set.stamp),
        }
        trees = {"": ROOT, **({f", as of {args.before}": tree_of(args.before, out)} if args.before else {})}
        for tree in trees.values():  # byte-compiled alike: PYTHONDONTWRITEBYTECODE would leave one tree compiling each run
            subprocess.run([sys.executable, "-m", "compileall", "-q", str(tree / "console")], check=True)
        for variant in args.ours.split(","):
            concurrency, part_mb = (int(number) for number in variant.split("x"))
            for label, tree in trees.items():
                contenders[f"ours, upload_concurrency {concurrency} ({part_mb} MiB parts){label}"] = (
                    lambda endpoint, c=concurrency, m=part_mb, t=tree: ours_argv(endpoint, out / "backups",
                                                                                 backup_set.set_id, c, m, t))
        samples: dict[tuple[str, str], list[dict[str, Any]]] = {}
        for network, endpoint in networks.items():
            for round_no in range(args.runs):  # round-robin, so every contender sees the same machine load
                for name, argv in contenders.items():
                    empty_bucket(client)
                    opened = proxy.connections
                    report = run_timed(argv(endpoint), env)
                    report["requests"] = proxy.connections - opened
                    if size not in stored_sizes(client):
                        raise RuntimeError(f"{name}: no object of {size} bytes in the bucket after the upload")
                    samples.setdefault((network, name), []).append(report)
                    print(f"# {network}, round {round_no + 1}: {name}: {report['seconds']:.2f} s", file=sys.stderr)
        empty_bucket(client)
        print(f"\n{tarball.name}: {size / 2**20:.1f} MiB of random data, {args.runs} run(s) each (median), "
              f"moto {moto_version()} on loopback, scratch on {out}\n")
        print("| network | uploader | time | MiB/s | CPU | peak RSS | requests |")
        print("|---|---|---|---|---|---|---|")
        for (network, name), taken in samples.items():
            seconds = statistics.median(sample["seconds"] for sample in taken)
            rss = max(sample["rss_kib"] for sample in taken)
            cpu = statistics.median(sample["cpu"] for sample in taken)
            requests = max(sample["requests"] for sample in taken)  # through the delay line only
            print(f"| {network} | {name} | {seconds:.2f} s | {size / 2**20 / seconds:.0f} | {cpu:.2f} s | "
                  f"{rss / 1024:.0f} MB | {requests or '-'} |")
    finally:
        proxy.close()
        if moto.stdin:
            moto.stdin.close()
        try:
            moto.wait(timeout=10)
        except subprocess.TimeoutExpired:
            moto.kill()
        if not os.environ.get("BENCH_KEEP"):
            shutil.rmtree(out, ignore_errors=True)
    return 0


def moto_version() -> str:
    from importlib.metadata import version

    return version("moto")


if __name__ == "__main__":
    sys.exit(main())

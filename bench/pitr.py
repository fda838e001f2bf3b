"""Benchmark: PostgreSQL point-in-time recovery pieces, side by side.

Builds a private cluster (data on ``--out``, tmpfs is best) archiving through ``wal push``,
fills a database of about ``--scale`` GB (bench/pg_backup.py's data), and measures, round-robin,
``--runs`` times each (median shown):

* **raw**: ``pg_basebackup -Ft -D - -X fetch`` to a file (the floor for the same stream);
* **ours**: ``backup postgres --physical`` (console.runner.execute in a fresh Python:
  pre-flight, the stream through zstd and sha256, the manifest checked against the stream,
  metadata, fsync and rename), once per ``--ours`` value of ``postgres.base_compression``
  (``zstd:LEVEL`` compressed here, ``server-lz4`` and ``server-zstd:LEVEL`` compressed by the server,
  then sha256, decompression and the manifest check here);
* **server** (``--server``): ``pg_basebackup -Ft -D DIR -X fetch --compress=server-lz4``, nothing
  checked: what the server-side copy costs alone;
* **C pipelines** (when ``zstd``/``lz4`` are installed): ``pg_basebackup ... | zstd -1 -T2`` and
  ``| lz4 -1`` to a file, no checksum, no manifest check and no metadata: what the work costs
  without Python;
* **pgBackRest** (when installed): a full backup to a local repository, zstd level 1,
  process-max 2, archive-check off (the cluster archives through ours).

Then: a restore to a moment per ``--ours`` compression (ours: unpack, recovery to a target time,
promote) and the cost of
one ``wal push`` process per 16 MiB segment (zstd and uncompressed), as the postgres user runs
it from archive_command. Usage: ``.venv/bin/python bench/pitr.py --scale 1.0 --runs 3``.
"""

from __future__ import annotations

import argparse
import json
import os
import pwd
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

OURS_CODE = """
import time
START = time.perf_counter()
import json, sys
sys.path.insert(0, sys.argv[1])
from console.config import load_settings
from console.kinds.base import BackupRequest
from console.runner import execute
settings = load_settings(sys.argv[2], env={}, overrides={})
if len(sys.argv) > 3:  # bench-only: levels outside the validated range (zstd -10, -20), unchecked
    import dataclasses
    settings = dataclasses.replace(settings, postgres=dataclasses.replace(settings.postgres, **json.loads(sys.argv[3])))
phases = {}
def seen(event):
    phases.setdefault(event.phase, time.perf_counter())
begin = time.perf_counter()
result = execute(settings, BackupRequest("postgres", None, options={"physical": True}), on_progress=seen)
assert result.ok, result.message
marks = sorted(phases.items(), key=lambda item: item[1]) + [("end", time.perf_counter())]
breakdown = {name: round(marks[i + 1][1] - at, 2) for i, (name, at) in enumerate(marks[:-1])}
print("# phases: " + ", ".join(f"{k} {v} s" for k, v in breakdown.items()) + f" (import+setup {begin - START:.2f} s)",
      file=sys.stderr)
print(json.dumps({"bytes": sum(f.size_bytes for f in result.files), "raw": result.extra.get("stop_lsn")}))
"""


def server_cpu(cluster) -> float:  # noqa: ANN001
    """CPU seconds of the cluster's backends that have exited (the walsender of a base backup, the
    pre-flight's connections): the postmaster's cutime + cstime. Long-lived processes (checkpointer,
    archiver) are left out."""
    pid = int((cluster.data / "postmaster.pid").read_text().split()[0])
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[13]) + int(fields[14])) / os.sysconf("SC_CLK_TCK")


def as_postgres(argv: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv


def drain(cluster, timeout: float = 600.0) -> None:  # noqa: ANN001
    """Wait until the archiver has nothing left, so no contender pays for an earlier one's WAL."""
    with cluster.connect() as conn:
        current = conn.execute("SELECT pg_walfile_name(pg_current_wal_lsn())").fetchone()[0]
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            ready = [p for p in (cluster.data / "pg_wal" / "archive_status").glob("*.ready")]
            last = conn.execute("SELECT last_archived_wal FROM pg_stat_archiver").fetchone()[0] or ""
            if not ready and last[:24] >= f"{current[:16]}{int(current[16:], 16) - 1:08X}":
                return
            time.sleep(0.2)


def timed(argv: list[str], **kwargs) -> tuple[float, str]:  # noqa: ANN003
    started = time.perf_counter()
    done = subprocess.run(argv, stdout=subprocess.PIPE, stderr=None, text=True, **kwargs)
    seconds = time.perf_counter() - started
    if done.returncode:
        raise RuntimeError(f"{argv[:4]} failed ({done.returncode})")
    return seconds, done.stdout


def chown_postgres(path: Path) -> None:
    if os.geteuid() == 0:
        entry = pwd.getpwnam("postgres")
        os.chown(path, entry.pw_uid, entry.pw_gid)


def contender_raw(tool: str, cluster, out: Path) -> tuple[float, int]:  # noqa: ANN001
    target = out / "raw-base.tar"
    started = time.perf_counter()
    with open(target, "wb") as handle:
        subprocess.run([tool, "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user, "-D", "-", "-Ft",
                        "-X", "fetch", "-c", "fast"], stdout=handle, stderr=subprocess.DEVNULL, check=True)
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return seconds, size


def contender_pipe(tool: str, cluster, out: Path, compressor: tuple[str, ...] = ("zstd", "-1", "-T2"),  # noqa: ANN001
                   suffix: str = "zst") -> tuple[float, int]:
    """``pg_basebackup -Ft -D - | compressor`` to a file: the compression alone, nothing checked."""
    target = out / f"pipe-base.tar.{suffix}"
    started = time.perf_counter()
    with open(target, "wb") as handle:
        dump = subprocess.Popen([tool, "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user, "-D", "-",
                                 "-Ft", "-X", "fetch", "-c", "fast"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        subprocess.run([*compressor, "-q", "-c"], stdin=dump.stdout, stdout=handle, check=True)
        assert dump.stdout is not None
        dump.stdout.close()
        if dump.wait():
            raise RuntimeError("pg_basebackup failed")
    seconds = time.perf_counter() - started
    size = target.stat().st_size
    target.unlink()
    return seconds, size


def contender_ours(config: Path, backup_dir: Path, variant: dict | None = None, tree: Path = ROOT) -> tuple[float, int]:
    """``variant``: postgres settings for this run, e.g. {"base_compression": "lz4"}; ``tree``: whose
    console package runs (this checkout, or ``--before``'s)."""
    shutil.rmtree(backup_dir / "postgres" / "base", ignore_errors=True)
    extra = [json.dumps(variant)] if variant else []
    seconds, printed = timed([sys.executable, "-c", OURS_CODE, str(tree), str(config), *extra])
    return seconds, int(json.loads(printed.strip().splitlines()[-1])["bytes"])


def parse_variant(text: str) -> tuple[str, dict]:
    """``zstd:1``, ``zstd:-10``, ``server-lz4``, ``server-zstd:1`` -> (label, postgres settings)."""
    kind, _, level = text.strip().partition(":")
    if kind == "server-lz4":
        return "server-lz4 (the server compresses; sha256, decompression and manifest check here)", \
            {"base_compression": "server-lz4"}
    number = int(level or 1)
    flag = f"--fast={-number}" if number < 0 else f"-{number}"
    if kind == "server-zstd":
        return f"server-zstd level {number} workers 2 (the server compresses; sha256, decompression and manifest " \
               "check here)", {"base_compression": "server-zstd", "base_zstd_level": number}
    return f"zstd {flag}", {"base_compression": "zstd", "base_zstd_level": number}


def contender_server(tool: str, cluster, out: Path, method: str) -> tuple[float, int]:  # noqa: ANN001
    """``pg_basebackup -Ft -D DIR -X fetch --compress=server-...``: the server compresses (a tar on
    stdout cannot carry the manifest then: pg_basebackup refuses to inject it into a compressed tar);
    nothing checked. Ours with ``base_compression: server-...`` is this plus the checks."""
    target = out / "server-base"
    shutil.rmtree(target, ignore_errors=True)
    started = time.perf_counter()
    subprocess.run([tool, "-h", cluster.host, "-p", str(cluster.port), "-U", cluster.user, "-D", str(target), "-Ft",
                    "-X", "fetch", "-c", "fast", f"--compress={method}"], stderr=subprocess.DEVNULL, check=True)
    seconds = time.perf_counter() - started
    size = next(target.glob("base.tar*")).stat().st_size
    shutil.rmtree(target)
    return seconds, size


def contender_pgbackrest(cluster, out: Path) -> tuple[float, int]:  # noqa: ANN001
    home = out / "pgbackrest"
    shutil.rmtree(home, ignore_errors=True)
    home.mkdir()
    chown_postgres(home)
    repo = home / "repo"
    conf = out / "pgbackrest.conf"
    conf.write_text(f"[global]\nrepo1-path={repo}\ncompress-type=zst\ncompress-level=1\nprocess-max=2\n"
                    f"start-fast=y\narchive-check=n\nlog-level-console=warn\nlog-path={home}\nlock-path={home}\n"
                    f"spool-path={home}\n[bench]\npg1-path={cluster.data}\npg1-port={cluster.port}\n"
                    f"pg1-socket-path={cluster.base}\n")
    os.chmod(conf, 0o644)
    common = ["pgbackrest", f"--config={conf}", "--stanza=bench"]
    timed(as_postgres([*common, "stanza-create"]), cwd="/")
    seconds, _ = timed(as_postgres([*common, "--type=full", "backup"]), cwd="/")
    size = sum(p.stat().st_size for p in repo.rglob("*") if p.is_file())
    return seconds, size


def push_cost(launcher: Path, segments: list[Path], archive: Path, compress: str | None) -> tuple[float, float]:  # noqa: E501
    """(wall, CPU) seconds per segment of one ``wal push`` process each: the launcher
    archive_command runs (system Python), started directly since runuser is not part of the
    cost. ``compress="cp"`` measures the manual's archive_command and ``None`` a bare
    ``python3 -s -c pass``, for comparison."""
    import resource

    shutil.rmtree(archive, ignore_errors=True)
    archive.mkdir()
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    for segment in segments:
        if compress == "cp":  # the manual's archive_command, as PostgreSQL runs it through sh
            argv = ["sh", "-c", 'test ! -f "$1" && cp "$2" "$1"', "sh", str(archive / segment.name), str(segment)]
        elif compress:
            argv = [str(launcher), "wal", "push", "--archive-dir", str(archive), "--compress", compress, str(segment)]
        else:
            argv = ["/usr/bin/python3", "-s", "-c", "pass"]
        subprocess.run(argv, check=True, cwd="/")
    wall = (time.perf_counter() - started) / len(segments)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = (after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime) / len(segments)
    return wall, cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--scale", type=float, default=1.0, help="database size in GB, roughly (default 1.0)")
    parser.add_argument("--runs", type=int, default=1, help="runs per contender; the median is reported")
    parser.add_argument("--out", default="/dev/shm/bc-bench-pitr", help="scratch directory (tmpfs is best)")
    parser.add_argument("--ours", default="zstd:1,server-lz4",
                        help="postgres.base_compression values to run ours with, comma-separated: zstd:LEVEL "
                             "(base_zstd_level, also outside the validated range, e.g. zstd:-10), server-lz4, "
                             "server-zstd:LEVEL (default zstd:1,server-lz4)")
    parser.add_argument("--server", default="server-lz4",
                        help="pg_basebackup --compress=server-... methods to run to a directory, separated by ';'; "
                             "nothing checked (default server-lz4)")
    parser.add_argument("--no-pipes", action="store_true", help="leave out the C pipelines (zstd, lz4)")
    parser.add_argument("--before", metavar="COMMIT",
                        help="also run ours as of this commit (git archive), each --ours value, in the same rounds")
    parser.add_argument("--parts", default="base,restore,push",
                        help="comma-separated: base (the three base backups), restore, push (default all)")
    args = parser.parse_args()
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    os.chmod(out, 0o755)
    tempfile.tempdir = str(out)
    from pg_backup import build_database

    from console.kinds.postgres.client import find_tool
    from tests.pitr.walbin import build_launcher
    from tests.servers import PgCluster

    launcher = build_launcher()
    archive = out / "archive"
    archive.mkdir(exist_ok=True)
    chown_postgres(archive)
    command = f"{launcher} wal push --archive-dir {archive} %p %f"
    cluster = PgCluster(extra_conf={"shared_buffers": "'256MB'", "wal_level": "replica", "archive_mode": "on",
                                    "archive_command": f"'{command}'", "max_wal_size": "'4GB'"}).init().start()
    backup_dir = out / "backups"
    config = out / "config.yaml"
    config.write_text(f"backup_dir: {backup_dir}\npostgres:\n  host: {cluster.host}\n  port: {cluster.port}\n"
                      f"  user: {cluster.user}\n  wal_archive_dir: {archive}\n")
    variants = [parse_variant(text) for text in args.ours.split(",") if text.strip()]
    before_tree = None
    if args.before:
        before_tree = out / "before"
        shutil.rmtree(before_tree, ignore_errors=True)
        before_tree.mkdir()
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", args.before], check=True, capture_output=True)
        subprocess.run(["tar", "-x", "-C", str(before_tree)], input=archive.stdout, check=True)
    for tree in (ROOT, before_tree) if before_tree else (ROOT,):  # both start with byte code, as installed
        subprocess.run([sys.executable, "-m", "compileall", "-q", "console"], cwd=tree, check=True,
                       env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""}, stdout=subprocess.DEVNULL)
    try:
        started = time.perf_counter()
        db_size = build_database(cluster, args.scale)
        with cluster.connect() as conn:
            conn.execute("CHECKPOINT")
            cluster_size = int(conn.execute("SELECT sum(pg_database_size(oid)) FROM pg_database").fetchone()[0])
        print(f"# database: {db_size / 1e9:.2f} GB ({cluster_size / 1e9:.2f} GB cluster), built in "
              f"{time.perf_counter() - started:.0f} s", file=sys.stderr)
        parts = set(args.parts.split(","))
        basebackup = find_tool("pg_basebackup").path
        contenders = {} if "base" not in parts else {
            "raw `pg_basebackup -Ft -D - -X fetch` to a file (floor)": lambda: contender_raw(basebackup, cluster, out)}
        for label, variant in variants if "base" in parts else []:
            contenders[f"ours: `backup postgres --physical`, {label} + sha256, manifest checked, metadata"] = \
                lambda variant=variant: contender_ours(config, backup_dir, variant)
            if before_tree is not None:
                contenders[f"ours as of {args.before}, {label}"] = \
                    lambda variant=variant: contender_ours(config, backup_dir, variant, before_tree)
        for method in [m.strip() for m in args.server.split(";") if m.strip()] if "base" in parts else []:
            contenders[f"`pg_basebackup -Ft -D DIR -X fetch --compress={method}` (nothing checked)"] = \
                lambda method=method: contender_server(basebackup, cluster, out, method)
        if shutil.which("lz4") and "base" in parts and not args.no_pipes:
            contenders["C pipeline `pg_basebackup ... \\| lz4 -1` to a file (no checksum, no manifest check)"] = \
                lambda: contender_pipe(basebackup, cluster, out, ("lz4", "-1"), "lz4")
        if shutil.which("zstd") and "base" in parts and not args.no_pipes:
            contenders["C pipeline `pg_basebackup ... \\| zstd -1 -T2` to a file (no checksum, no manifest check)"] = \
                lambda: contender_pipe(basebackup, cluster, out)
        if shutil.which("pgbackrest") and "base" in parts:
            contenders["pgBackRest 2.45 full, local repo, zstd-1, process-max 2"] = lambda: contender_pgbackrest(
                cluster, out)
        if contenders:
            contender_raw(basebackup, cluster, out)  # warm the cache
        import resource

        samples: dict[str, list[tuple[float, int]]] = {name: [] for name in contenders}
        cpu: dict[str, list[float]] = {name: [] for name in contenders}
        on_server: dict[str, list[float]] = {name: [] for name in contenders}
        """CPU seconds of our children and theirs (pg_basebackup, Python, zstd; not the server's)."""
        for round_no in range(args.runs):
            for name, run in contenders.items():
                drain(cluster)
                before, server_before = resource.getrusage(resource.RUSAGE_CHILDREN), server_cpu(cluster)
                samples[name].append(run())
                after = resource.getrusage(resource.RUSAGE_CHILDREN)
                on_server[name].append(server_cpu(cluster) - server_before)
                cpu[name].append(after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime)
                print(f"# round {round_no + 1}: {name}: {samples[name][-1][0]:.2f} s (load "
                      f"{os.getloadavg()[0]:.2f})", file=sys.stderr)
        raw_seconds = statistics.median(s[0] for s in samples[next(iter(contenders))]) if contenders else 1.0
        print(f"\nCluster: {cluster_size / 1e9:.2f} GB (database {db_size / 1e9:.2f} GB), scale {args.scale}, "
              f"{args.runs} run(s) each, outputs on {out}\n")
        if contenders:
            print("| base backup | median | range | x raw (median) | x raw per round | client CPU (median) | "
                  "server CPU (median) | size |")
            print("|---|---|---|---|---|---|---|---|")
        raw_runs = [s[0] for s in samples[next(iter(contenders))]] if contenders else []
        for name, taken in samples.items():
            seconds = statistics.median(s[0] for s in taken)
            per_round = ", ".join(f"{s[0] / raw:.2f}" for s, raw in zip(taken, raw_runs))
            print(f"| {name} | {seconds:.2f} s | {min(s[0] for s in taken):.2f}-{max(s[0] for s in taken):.2f} s | "
                  f"{seconds / raw_seconds:.2f} | {per_round} | {statistics.median(cpu[name]):.2f} s | "
                  f"{statistics.median(on_server[name]):.2f} s | "
                  f"{taken[-1][1] / 1e6:.0f} MB |")

        if "restore" in parts:
            restore_to_moment(cluster, config, backup_dir, out, launcher, cluster_size,
                              [v for v in variants if v[1]["base_compression"] != "zstd" or
                               -7 <= v[1]["base_zstd_level"] <= 19], args.runs)
        if "push" in parts:
            push_table(cluster, launcher, out, args.runs)
    finally:
        cluster.destroy()
        shutil.rmtree(launcher.parent, ignore_errors=True)
        if not os.environ.get("BENCH_KEEP"):
            for child in out.glob("*"):
                if child.is_dir():
                    shutil.rmtree(child, ignore_errors=True)
                else:
                    child.unlink(missing_ok=True)
    return 0


def restore_to_moment(cluster, config: Path, backup_dir: Path, out: Path, launcher: Path,  # noqa: ANN001
                      cluster_size: int, variants: list[tuple[str, dict]], runs: int) -> None:
    """Per compression, round-robin: a base backup, rows committed around a known time, archived,
    then the cluster recovered to that time (only the restore is timed)."""
    from console.kinds.postgres.client import find_tool

    taken: dict[str, list[float]] = {label: [] for label, _ in variants}
    sizes: dict[str, int] = {}
    for round_no in range(max(1, runs)):
        for label, variant in variants:
            drain(cluster)
            sizes[label] = contender_ours(config, backup_dir, variant)[1]
            with cluster.connect() as conn:
                conn.execute("CREATE TABLE IF NOT EXISTS marker (id int)")
                conn.execute("INSERT INTO marker VALUES (1)")
                time.sleep(0.5)
                moment = conn.execute("SELECT clock_timestamp()").fetchone()[0]
                time.sleep(0.5)
                conn.execute("INSERT INTO marker VALUES (2)")
                conn.execute("SELECT pg_switch_wal()")
            drain(cluster)
            restored = out / "restored"
            shutil.rmtree(restored, ignore_errors=True)
            seconds, _ = timed([sys.executable, "-m", "console.cli", "--config", str(config), "restore", "postgres",
                                "--pitr", "--target-time", moment.isoformat(), "--to", str(restored), "--start",
                                "--program", str(launcher), "--json"], cwd=ROOT)
            subprocess.run(as_postgres([find_tool("pg_ctl").path, "-D", str(restored), "-m", "immediate", "stop"]),
                           capture_output=True, cwd="/")
            shutil.rmtree(restored, ignore_errors=True)
            taken[label].append(seconds)
            print(f"# restore round {round_no + 1}: {label}: {seconds:.2f} s (load {os.getloadavg()[0]:.2f})",
                  file=sys.stderr)
    print(f"\n| restore to a moment (unpack {cluster_size / 1e9:.2f} GB, replay, promote), base backup | median | "
          "range | base size |")
    print("|---|---|---|---|")
    for label, seconds in taken.items():
        print(f"| {label} | {statistics.median(seconds):.2f} s | {min(seconds):.2f}-{max(seconds):.2f} s | "
              f"{sizes[label] / 1e6:.0f} MB |")


def push_table(cluster, launcher: Path, out: Path, runs: int) -> None:  # noqa: ANN001
    """One ``wal push`` process per real segment, as archive_command runs it."""
    segments_dir = out / "segments"
    segments_dir.mkdir(exist_ok=True)
    real = sorted(p for p in (cluster.data / "pg_wal").iterdir() if len(p.name) == 24)[:20]
    copies = []
    for segment in real:
        shutil.copy(segment, segments_dir / segment.name)
        copies.append(segments_dir / segment.name)
    os.chmod(segments_dir, 0o755)
    for copy in copies:
        os.chmod(copy, 0o644)
    print(f"\n| one process per 16 MiB segment ({len(copies)} real segments) | wall | CPU | "
          "sustained WAL rate (wall) |")
    print("|---|---|---|---|")
    drain(cluster)
    for compress in ("zstd", "none", "cp", None):
        taken = [push_cost(launcher, copies, out / f"push-{compress}", compress) for _ in range(max(1, runs))]
        wall = statistics.median(r[0] for r in taken)
        cpu = statistics.median(r[1] for r in taken)
        name = {"cp": "the manual's `test ! -f ... && cp` (no fsync, no checksum)",
                None: "bare `python3 -s -c pass`"}.get(compress, f"`wal push --compress {compress}`")
        print(f"| {name} | {wall * 1000:.0f} ms | {cpu * 1000:.0f} ms | {16 / wall:.0f} MiB/s "
              f"({1 / wall:.1f} segments/s) |")


if __name__ == "__main__":
    sys.exit(main())

"""Bench: throughput and peak memory of our streaming encryption on a large input (1 GB default).

Encrypts a generated stream into /dev/null-like sinks and decrypts it back, reporting MB/s and
the process's peak RSS, which must stay flat whatever the size. Nothing is asserted.

    .venv/bin/python bench/crypto_stream.py [--megabytes 1024]
"""

from __future__ import annotations

import argparse
import io
import os
import resource
import tempfile
import time
from pathlib import Path

from console import crypto


class _Pattern(io.RawIOBase):
    """``size`` bytes of a repeating random block, produced on demand (nothing held in memory)."""

    def __init__(self, size: int) -> None:
        self.remaining = size
        self.block = os.urandom(1 << 20)

    def readable(self) -> bool:
        return True

    def readinto(self, buffer) -> int:  # noqa: ANN001
        count = min(len(buffer), self.remaining, len(self.block))
        buffer[:count] = self.block[:count]
        self.remaining -= count
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--megabytes", type=int, default=1024)
    args = parser.parse_args()
    size = args.megabytes * 1024 * 1024
    with tempfile.TemporaryDirectory() as scratch:
        encrypted = Path(scratch) / "big.enc"
        started = time.perf_counter()
        with open(encrypted, "wb") as sink:
            crypto.encrypt_stream(io.BufferedReader(_Pattern(size)), sink, "bench passphrase")
        encrypt_seconds = time.perf_counter() - started
        rss_after_encrypt = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.perf_counter()
        with open(encrypted, "rb") as source, open(os.devnull, "wb") as sink:
            crypto.decrypt_stream(source, sink, "bench passphrase")
        decrypt_seconds = time.perf_counter() - started
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print("| step | size | time | MB/s | peak RSS |")
    print("|---|---|---|---|---|")
    print(f"| encrypt | {args.megabytes} MB | {encrypt_seconds:.1f} s | {args.megabytes / encrypt_seconds:.0f} | "
          f"{rss_after_encrypt / 1024:.0f} MB |")
    print(f"| decrypt | {args.megabytes} MB | {decrypt_seconds:.1f} s | {args.megabytes / decrypt_seconds:.0f} | "
          f"{rss / 1024:.0f} MB |")


if __name__ == "__main__":
    main()

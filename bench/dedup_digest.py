"""Digests of `dedup_file`'s output on the dev set and on both splits, to tell whether a change moved any cluster.

Usage: python bench/dedup_digest.py [FILE]. The records are anonymised and split as `bench/dedup.py` does; each
output is written whole and its SHA-1 printed. A speed change must leave all three digests as they were: run this
once on the change and once on main (`git archive main src | tar -x -C /tmp/base`, then
`PYTHONPATH=/tmp/base/src python bench/dedup_digest.py`) and compare the lines.
"""

from __future__ import annotations

import gzip
import hashlib
import tempfile
from pathlib import Path

import orjson
from _common import dataset
from dedup import anonymise, load, split

from clearinghouse.intake.batch_dedup import dedup_file


def main() -> None:
    documents = load(dataset())
    tune, held_out = split(documents)
    with tempfile.TemporaryDirectory() as home:
        for name, part in (("whole set", documents), ("tune split", tune), ("held-out split", held_out)):
            source, out = Path(home) / "in.jsonl.gz", Path(home) / "clusters.jsonl"
            with gzip.open(source, "wb", compresslevel=1) as stream:
                for n, document in enumerate(part):
                    stream.write(orjson.dumps(anonymise(document, n)) + b"\n")
            dedup_file(source, out, None)
            print(f"{name:<15} {len(part):>6,} records  clusters {hashlib.sha1(out.read_bytes()).hexdigest()}")


if __name__ == "__main__":
    main()

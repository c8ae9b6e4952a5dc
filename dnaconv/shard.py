"""Training shards: a genome cut into token windows, saved as a Hugging Face `datasets.DatasetDict`.

Layout of `out_dir` (what `make_shards` writes and `load_shards` reads):

    dataset_dict.json, train/, valid/, test/   `DatasetDict.save_to_disk` (Arrow, memory-mapped on load)
    shards.json                                 inputs (sha256), spec, split definition, counts; written last

Rows: `contig` (str), `start`, `end` (int64, 0-based half-open), `split` (str), `tokens` (list of uint8 ids
0..4, see `dnaconv.tokenizer`) and, with `softmask`, `softmask` (list of uint8 0/1, 1 = lowercase base).
Every split exists, possibly empty.

Windows. The splits cut each contig into segments (a BED interval, a whole contig, or the stretch between
held-out regions); windows never cross a segment's ends, so no train window overlaps a valid/test region.
In a segment of n bases, windows start at 0, stride, 2*stride, ... while they fit whole; then one last,
shorter window runs from the next start to the segment's end and is kept when it has at least
`min_length` bases (default length // 2; set it to `length` to keep only full windows). A window is
dropped when more than `max_n_frac` of its bases are N (the gaps: telomeres, centromeres).

Memory: one record's tokens (and mask) at a time, plus a batch of windows (about 32 MiB); rows go to
per-split Arrow stream files as they are made, so a whole genome never sits in RAM.

`ShardSpec`, `parse_split_chrom` and the split plans live in `dnaconv.shard_spec`.
"""

from __future__ import annotations

import datetime
import json
import math
import os
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from tqdm import tqdm

from dnaconv import __version__
from dnaconv.fasta import open_fasta
from dnaconv.shard_spec import SPLITS, ShardSpec, _make_plan, _sha256, parse_split_chrom
from dnaconv.tokenizer import N

if TYPE_CHECKING:  # datasets and pyarrow are imported where used: they take a second to import
    from datasets import Dataset

__all__ = ["SPLITS", "ShardSpec", "load_shards", "make_shards", "parse_split_chrom", "shards_info"]

FORMAT = "dnaconv-shards"
FORMAT_VERSION = 1
_BATCH_BYTES = 32 << 20  # tokens per Arrow record batch
_SHARD_BYTES = 500 << 20  # tokens per saved .arrow file
_CHECKED = ("windows", "bases", "n_bases")  # the counts load_shards compares with the Arrow data


# -- writing -----------------------------------------------------------------------------------------


def _features(softmask: bool):
    from datasets import Features, List, Value

    columns = {"contig": Value("string"), "start": Value("int64"), "end": Value("int64")}
    columns |= {"split": Value("string"), "tokens": List(Value("uint8"))}
    if softmask:
        columns["softmask"] = List(Value("uint8"))
    return Features(columns)


class _SplitWriter:
    """Cuts segments into windows and streams them as Arrow record batches to one file."""

    def __init__(self, path: Path, split: str, spec: ShardSpec):
        import pyarrow as pa

        self.pa, self.split = pa, split
        self.length, self.stride = spec.length, spec.stride or spec.length
        self.min_length, self.max_n_frac = spec.settings()["min_length"], spec.max_n_frac
        self.schema = _features(spec.softmask).arrow_schema
        self._file = pa.OSFile(str(path), "wb")
        self._writer = pa.ipc.new_stream(self._file, self.schema)
        self._pending: list[tuple[str, np.ndarray, np.ndarray, np.ndarray, np.ndarray | None]] = []
        self._pending_bytes = 0
        keys = ("windows", "bases", "n_bases", "span_bases", "dropped_n_windows", "dropped_n_bases")
        self.counts = dict.fromkeys((*keys, "dropped_short_windows", "dropped_short_bases"), 0)

    def add_segment(self, contig: str, offset: int, tokens: np.ndarray, mask: np.ndarray | None) -> None:
        """Window one segment; `offset` is its start in the contig."""
        n, length, stride = len(tokens), self.length, self.stride
        self.counts["span_bases"] += n
        full = (n - length) // stride + 1 if n >= length else 0
        self._add(contig, offset, tokens, mask, np.arange(full, dtype=np.int64) * stride, length)
        tail = full * stride
        if tail < n:
            if n - tail >= self.min_length:
                self._add(contig, offset, tokens, mask, np.array([tail], dtype=np.int64), n - tail)
            else:
                self.counts["dropped_short_windows"] += 1
                self.counts["dropped_short_bases"] += n - tail

    def _add(self, contig, offset, tokens, mask, starts: np.ndarray, width: int) -> None:
        if not len(starts):
            return
        view = np.lib.stride_tricks.sliding_window_view(tokens, width)  # [n - width + 1, width]
        mask_view = None if mask is None else np.lib.stride_tricks.sliding_window_view(mask, width)
        batch = max(1, _BATCH_BYTES // width)
        for first in range(0, len(starts), batch):
            chosen = starts[first : first + batch]
            windows = view[chosen]  # [B, width], a copy
            n_counts = np.count_nonzero(windows == N, axis=1)
            keep = n_counts <= self.max_n_frac * width
            dropped = len(chosen) - int(keep.sum())
            self.counts["dropped_n_windows"] += dropped
            self.counts["dropped_n_bases"] += dropped * width
            if dropped == len(chosen):
                continue
            if dropped:
                chosen, windows, n_counts = chosen[keep], windows[keep], n_counts[keep]
            masks = None if mask_view is None else mask_view[chosen].view(np.uint8)
            self.counts["windows"] += len(chosen)
            self.counts["bases"] += windows.size
            self.counts["n_bases"] += int(n_counts.sum())
            widths = np.full(len(chosen), width, dtype=np.int64)
            self._pending.append((contig, offset + chosen, widths, windows.reshape(-1), masks))
            self._pending_bytes += windows.size
            if self._pending_bytes >= _BATCH_BYTES:
                self._flush()

    def _flush(self) -> None:
        if not self._pending:
            return
        pa = self.pa
        contigs = [pa.repeat(pa.scalar(contig), len(starts)) for contig, starts, *_ in self._pending]
        starts = np.concatenate([item[1] for item in self._pending])
        widths = np.concatenate([item[2] for item in self._pending])
        offsets = pa.array(np.concatenate([[0], np.cumsum(widths)]).astype(np.int32))

        def lists(values: list[np.ndarray]) -> Any:
            return pa.ListArray.from_arrays(
                offsets, pa.array(np.concatenate(values)), type=pa.list_(pa.uint8())
            )

        columns = [
            pa.concat_arrays(contigs),
            pa.array(starts),
            pa.array(starts + widths),
            pa.repeat(pa.scalar(self.split), len(starts)),
            lists([item[3] for item in self._pending]),
        ]
        if self._pending[0][4] is not None:
            columns.append(lists([item[4].reshape(-1) for item in self._pending]))
        self._writer.write_batch(pa.record_batch(columns, schema=self.schema))
        self._pending, self._pending_bytes = [], 0

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._file.close()


def _total_bases(paths: list[str]) -> int | None:
    """Bases in all inputs when every one is indexed (for the progress bar); opening them checks them early."""
    total: int | None = 0
    for path in paths:
        with open_fasta(path) as fasta:
            lengths = fasta.contigs()
        total = None if lengths is None or total is None else total + sum(lengths.values())
    return total


def _check_expected(expected: dict, contigs: dict[str, int], n_bases: int) -> None:
    """Raise ValueError naming every count that differs from a manifest's `expected` block."""
    problems = []
    for contig, length in expected.get("contigs", {}).items():
        if contig not in contigs:
            problems.append(f"contig {contig!r} is missing (the manifest expects {length} bases)")
        elif contigs[contig] != length:
            problems.append(f"contig {contig!r} has {contigs[contig]} bases, the manifest expects {length}")
    seen = {"records": len(contigs), "bases": sum(contigs.values()), "n_bases": n_bases}
    for key, value in seen.items():
        if key in expected and expected[key] != value:
            problems.append(f"{key}: read {value}, the manifest expects {expected[key]}")
    if problems:
        shown = "; ".join(problems[:5]) + (f"; and {len(problems) - 5} more" if len(problems) > 5 else "")
        raise ValueError(f"count check failed: {shown}")


@contextmanager
def _datasets_progress(enabled: bool):
    import datasets

    was_enabled = datasets.is_progress_bar_enabled()
    if not enabled:
        datasets.disable_progress_bars()
    try:
        yield
    finally:
        if was_enabled:
            datasets.enable_progress_bars()


def _prepare_out_dir(out: Path, force: bool) -> None:
    if not out.exists():
        return
    if not out.is_dir():
        raise ValueError(f"{out}: exists and is not a directory")
    if not any(out.iterdir()):
        return
    if not force:
        raise ValueError(f"{out}: already exists; use force=True (--force) to replace it")
    if not ((out / "shards.json").exists() or (out / "dataset_dict.json").exists()):
        raise ValueError(
            f"{out}: not replacing it: it is not empty and has no shards.json or dataset_dict.json"
        )


def make_shards(
    fasta_paths: list[str | os.PathLike] | str | os.PathLike,
    out_dir: str | os.PathLike,
    spec: ShardSpec,
    *,
    expected: dict | None = None,
    force: bool = False,
    progress: bool = True,
) -> dict:
    """Cut FASTA files into token windows and save them as a `DatasetDict` (train, valid, test) in `out_dir`.

    Args:
        fasta_paths: FASTA files (plain, gzip or bgzip); record ids must be unique across them.
        out_dir: the output directory; an existing non-empty one is replaced only with `force` (and only
            when it holds shards).
        spec: window settings and `spec.splits`, one of: a BED path or list of Intervals whose name
            (column 4) is train, valid or test (only those intervals are used); {split: [contig]} from
            `parse_split_chrom` (other contigs are train, unless train is listed); {'valid': [Interval],
            'test': [Interval]} held-out regions (the rest of every contig is train); None (all train).
        expected: a manifest's `expected` block ({'contigs': {name: length}, 'bases': int, optionally
            'records', 'n_bases'}); checked after reading, before anything is saved.
        force: replace an existing shard directory.
        progress: a progress bar on stderr.

    Returns:
        The contents of shards.json: inputs, spec, split, per-split counts (windows, bases, n_bases,
        span_bases, dropped_n_windows/bases, dropped_short_windows/bases), input counts.

    Example:
        >>> spec = ShardSpec(8192, splits={"test": [parse_region("20:55,000,001-60,000,000")]})
        >>> summary = make_shards(["GRCh37.chr20.fa.gz"], "shards/", spec)
    """
    from datasets import Dataset, DatasetDict

    if isinstance(fasta_paths, (str, os.PathLike)):
        fasta_paths = [fasta_paths]
    paths = [os.fspath(path) for path in fasta_paths]
    if not paths:
        raise ValueError("no FASTA inputs")
    out = Path(out_dir)
    _prepare_out_dir(out, force)
    plan = _make_plan(spec.splits)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.tmp-", dir=out.parent))
    try:
        writers = {split: _SplitWriter(tmp / f"{split}.arrow", split, spec) for split in SPLITS}
        inputs, contigs, n_bases = [], {}, 0
        total = _total_bases(paths)
        bar = tqdm(
            total=total, unit="bp", unit_scale=True, desc="shard", disable=not progress, file=sys.stderr
        )
        try:
            for path in paths:
                with open_fasta(path) as fasta:
                    for record in fasta.records(softmask=spec.softmask):
                        tokens, mask = record.tokens(True) if spec.softmask else (record.tokens(), None)
                        if record.id in contigs:
                            raise ValueError(f"{path}: record {record.id!r} also appears in an earlier input")
                        contigs[record.id] = len(tokens)
                        n_bases += int(np.count_nonzero(tokens == N))
                        for split, start, end in plan.segments(record.id, len(tokens)):
                            part = None if mask is None else mask[start:end]
                            writers[split].add_segment(record.id, start, tokens[start:end], part)
                        bar.update(len(tokens))
                        del tokens, mask
                inputs.append({"path": path, "size": os.path.getsize(path), "sha256": _sha256(path)})
        finally:
            bar.close()
            for writer in writers.values():
                writer.close()
        missing = [item for c in sorted(set(plan.by_contig) - set(contigs)) for item in plan.by_contig[c]]
        if missing:
            named = ", ".join(f"{interval.id} ({split})" for interval, split in missing[:5])
            more = f" and {len(missing) - 5} more" if len(missing) > 5 else ""
            raise ValueError(f"split regions on contigs not in the inputs: {named}{more}")
        if expected is not None:
            _check_expected(expected, contigs, n_bases)

        counts = {split: writer.counts for split, writer in writers.items()}
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "dnaconv_version": __version__,
            "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
            "inputs": inputs,
            "spec": spec.settings(),
            "split": plan.description,
            "columns": list(_features(spec.softmask)),
            "counts": counts,
            "input_counts": {"records": len(contigs), "bases": sum(contigs.values()), "n_bases": n_bases},
            "expected": expected,
        }
        per_row = 2 if spec.softmask else 1
        num_shards = {s: max(1, math.ceil(c["bases"] * per_row / _SHARD_BYTES)) for s, c in counts.items()}
        staged = tmp / "out"
        with _datasets_progress(progress):
            datasets = DatasetDict(
                {split: Dataset.from_file(str(tmp / f"{split}.arrow")) for split in SPLITS}
            )
            datasets.save_to_disk(str(staged), num_shards=num_shards)
            del datasets
        (staged / "shards.json").write_text(json.dumps(meta, indent=2) + "\n")
        if out.exists():
            shutil.rmtree(out)
        staged.rename(out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return meta


# -- reading -----------------------------------------------------------------------------------------


def shards_info(out_dir: str | os.PathLike) -> dict:
    """The parsed shards.json of a shard directory; ValueError naming the problem if it is not one."""
    path = Path(out_dir) / "shards.json"
    if not Path(out_dir).is_dir():
        raise ValueError(f"{out_dir}: no such shard directory")
    if not path.is_file():
        raise ValueError(f"{out_dir}: no shards.json (not made by dnaconv shard, or interrupted)")
    try:
        meta = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: unreadable ({exc})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise ValueError(f"{path}: not a dnaconv shards.json (format is not {FORMAT!r})")
    if meta.get("format_version") != FORMAT_VERSION:
        raise ValueError(f"{path}: format version {meta.get('format_version')!r}, expected {FORMAT_VERSION}")
    spec, counts = meta.get("spec"), meta.get("counts")
    if not isinstance(spec, dict) or not isinstance(spec.get("length"), int):
        raise ValueError(f"{path}: missing or bad 'spec' (no window length)")
    if not isinstance(meta.get("columns"), list) or not isinstance(counts, dict):
        raise ValueError(f"{path}: missing or bad 'columns' or 'counts'")
    for split, numbers in counts.items():
        if not isinstance(numbers, dict) or not all(isinstance(numbers.get(k), int) for k in _CHECKED):
            raise ValueError(f"{path}: counts of split {split!r} lack {', '.join(_CHECKED)}")
    return meta


def load_shards(out_dir: str | os.PathLike, split: str, *, expect_length: int | None = None) -> Dataset:
    """Load one split (memory-mapped, numpy format) after checking it against shards.json.

    Checks: shards.json is readable; the window length is `expect_length` (when given); the Arrow data
    reads and has the recorded columns, row count, bases and N count; token ids are bases (0..4); every
    window fits the length; every row belongs to `split`. Raises ValueError naming the first problem.

    Example:
        >>> train = load_shards("shards/", "train", expect_length=8192)
        >>> batch = train[:8]["tokens"]  # [8, 8192]; datasets' numpy format widens uint8 to int64
    """
    import pyarrow as pa
    import pyarrow.compute as pc
    from datasets import Dataset

    meta = shards_info(out_dir)
    where = f"{out_dir}: split {split!r}"
    counts, length = meta["counts"], meta["spec"].get("length")
    if split not in counts:
        raise ValueError(f"{out_dir}: no split {split!r} (have {', '.join(counts)})")
    if expect_length is not None and length != expect_length:
        raise ValueError(f"{out_dir}: windows are {length} tokens long, expected {expect_length}")
    try:
        dataset = Dataset.load_from_disk(str(Path(out_dir) / split))
    except (OSError, ValueError, KeyError, IndexError, pa.ArrowException) as exc:
        raise ValueError(f"{where}: cannot read the Arrow data ({type(exc).__name__}: {exc})") from None
    if dataset.column_names != meta["columns"]:
        raise ValueError(f"{where}: columns {dataset.column_names}, shards.json says {meta['columns']}")
    want = counts[split]
    if dataset.num_rows != want["windows"]:
        raise ValueError(f"{where}: {dataset.num_rows} rows, shards.json says {want['windows']} windows")
    table = dataset.data
    try:
        tokens = table.column("tokens")
        if tokens.type != pa.list_(pa.uint8()):
            raise ValueError(f"{where}: tokens are {tokens.type}, expected list<uint8>")
        widths = pc.list_value_length(tokens)
        bases = pc.sum(widths).as_py() or 0
        top = pc.max(widths).as_py() or 0
        largest = n_count = 0
        for chunk in pc.list_flatten(tokens).chunks:  # numpy: several times faster than pyarrow.compute here
            values = chunk.to_numpy(zero_copy_only=True)
            largest = max(largest, int(values.max(initial=0)))
            n_count += int(np.count_nonzero(values == N))
        splits = pc.unique(table.column("split")).to_pylist()
        if (
            "softmask" in dataset.column_names
            and pc.any(pc.not_equal(pc.list_value_length(table.column("softmask")), widths)).as_py()
        ):
            raise ValueError(f"{where}: softmask and tokens differ in length")
    except pa.ArrowException as exc:
        raise ValueError(f"{where}: corrupt Arrow data ({exc})") from None
    if top > length:
        raise ValueError(f"{where}: a window has {top} tokens, more than the length {length}")
    if largest > N:
        raise ValueError(f"{where}: token id {largest} found; shards hold base tokens 0..{N} only")
    if bases != want["bases"] or n_count != want["n_bases"]:
        raise ValueError(
            f"{where}: {bases} bases ({n_count} N), shards.json says {want['bases']} ({want['n_bases']} N)"
        )
    if splits and splits != [split]:
        raise ValueError(f"{where}: rows labelled {splits}")
    return dataset.with_format("numpy")

"""Shard settings and split definitions: `ShardSpec`, `parse_split_chrom`, and the plans that say which
segments of each contig go to train, valid or test.

Used by `dnaconv.shard` (`make_shards`), which cuts each planned segment into windows; see its docstring for
how splits and windows relate.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from typing import Any

from dnaconv.regions import Interval, read_bed

__all__ = ["SPLITS", "SplitDef", "ShardSpec", "parse_split_chrom"]

SPLITS = ("train", "valid", "test")

# A BED path or its intervals (column 4 names the split); {split: [contig]}; {split: [Interval]}; None: all train.
SplitDef = str | os.PathLike | list[Interval] | dict[str, list[str]] | dict[str, list[Interval]] | None


@dataclass
class ShardSpec:
    length: int  # window length in tokens
    stride: int | None = None  # default: length (non-overlapping windows)
    max_n_frac: float = 0.5  # drop windows with more than this fraction of N
    softmask: bool = False  # keep a per-window uint8 mask column (1 = soft-masked base)
    splits: SplitDef = None  # see `make_shards`
    min_length: int | None = None  # shortest last window of a segment kept; default length // 2

    def __post_init__(self) -> None:
        if self.length < 1:
            raise ValueError(f"window length must be >= 1, got {self.length}")
        if self.stride is not None and self.stride < 1:
            raise ValueError(f"stride must be >= 1, got {self.stride}")
        if not 0.0 <= self.max_n_frac <= 1.0:
            raise ValueError(f"max_n_frac must be in [0, 1], got {self.max_n_frac}")
        if self.min_length is not None and not 1 <= self.min_length <= self.length:
            raise ValueError(f"min_length must be in 1..{self.length} (the length), got {self.min_length}")

    def settings(self) -> dict[str, Any]:
        """The window settings with defaults resolved (as recorded in shards.json)."""
        return {
            "length": self.length,
            "stride": self.stride or self.length,
            "max_n_frac": self.max_n_frac,
            "softmask": self.softmask,
            "min_length": self.min_length or max(1, self.length // 2),
        }


def parse_split_chrom(text: str) -> dict[str, list[str]]:
    """Parse 'valid=chr8,test=chr20,chr21' into {'valid': ['chr8'], 'test': ['chr20', 'chr21']}.

    A name followed by '=' starts a split; the contigs after it (comma-separated) belong to it. Contigs not
    listed go to train, unless 'train=...' is given too: then unlisted contigs are left out.
    """
    result: dict[str, list[str]] = {}
    current: list[str] | None = None
    for raw in text.split(","):
        token = raw.strip()
        contig = token
        if "=" in token:
            name, _, contig = (part.strip() for part in token.partition("="))
            if name not in SPLITS:
                raise ValueError(f"bad split name {name!r} in {text!r}: expected one of {', '.join(SPLITS)}")
            if name in result:
                raise ValueError(f"split {name!r} is given twice in {text!r}")
            current = result[name] = []
        elif current is None:
            raise ValueError(f"bad split {token!r} in {text!r}: expected 'valid=chr8,test=chr20,chr21'")
        if not contig or "=" in contig:
            raise ValueError(f"bad contig {contig!r} in {text!r}: expected 'valid=chr8,test=chr20,chr21'")
        if any(contig in contigs for contigs in result.values()):
            raise ValueError(f"contig {contig!r} is listed twice in {text!r}")
        current.append(contig)
    return result


# -- split definitions -------------------------------------------------------------------------------


class _Plan:
    """Which segments of each contig go to which split."""

    def __init__(self, regions: list[tuple[Interval, str]], complement: bool, description: dict):
        self.by_contig: dict[str, list[tuple[Interval, str]]] = {}
        for interval, split in regions:
            self.by_contig.setdefault(interval.contig, []).append((interval, split))
        self.complement = complement  # the rest of every contig is train
        self.description = description

    def segments(self, contig: str, length: int) -> list[tuple[str, int, int]]:
        """(split, start, end) segments of a contig of `length` bases, in order."""
        held = []
        for interval, split in self.by_contig.get(contig, []):
            end = length if interval.end is None else interval.end
            if interval.start >= length or end > length:
                raise ValueError(
                    f"split region {interval.id} ({split}) is outside contig {contig!r} (length {length})"
                )
            held.append((interval.start, end, split, interval))
        held.sort(key=lambda item: item[:2])
        _check_disjoint(held)
        segments = [(split, start, end) for start, end, split, _ in held]
        if self.complement:
            pos = 0
            for start, end, _, _ in held:
                if start > pos:
                    segments.append(("train", pos, start))
                pos = max(pos, end)
            if pos < length:
                segments.append(("train", pos, length))
        return sorted(segments, key=lambda segment: segment[1:])


def _check_disjoint(held: list[tuple[int, int, str, Interval]]) -> None:
    """Raise if intervals (sorted by start) of different splits overlap."""
    furthest: dict[str, tuple[int, Interval]] = {}  # split -> the interval reaching furthest so far
    for start, end, split, interval in held:
        for other, (other_end, other_interval) in furthest.items():
            if other != split and other_end > start:
                raise ValueError(
                    f"split regions overlap: {other_interval.id} ({other}) and {interval.id} ({split})"
                )
        if split not in furthest or end > furthest[split][0]:
            furthest[split] = end, interval


def _make_plan(splits: SplitDef) -> _Plan:
    if splits is None or (isinstance(splits, dict) and not splits):
        return _Plan([], True, {"kind": "all", "train": "every contig"})
    if isinstance(splits, (str, os.PathLike)):
        plan = _bed_plan(read_bed(splits))
        plan.description.update(path=os.fspath(splits), sha256=_sha256(os.fspath(splits)))
        return plan
    if isinstance(splits, list):
        return _bed_plan(splits)
    if not isinstance(splits, dict):
        raise TypeError(
            f"splits must be a BED path, a list of Intervals or a dict, not {type(splits).__name__}"
        )
    for name, values in splits.items():
        if name not in SPLITS:
            raise ValueError(f"bad split name {name!r}: expected one of {', '.join(SPLITS)}")
        if isinstance(values, (str, Interval)) or not all(isinstance(v, (str, Interval)) for v in values):
            raise TypeError(f"split {name!r}: expected a list of contig names or a list of Intervals")
    values = [value for values in splits.values() for value in values]
    if all(isinstance(value, str) for value in values):  # chromosome split
        seen: set[str] = set()
        for contig in values:
            if contig in seen:
                raise ValueError(f"contig {contig!r} is given to more than one split")
            seen.add(contig)
        regions = [
            (Interval(contig, 0, None), name) for name, contigs in splits.items() for contig in contigs
        ]
        description = {"kind": "chrom", "train": splits.get("train", "every other contig")}
        description |= {name: list(splits.get(name, [])) for name in SPLITS[1:]}
        return _Plan(regions, "train" not in splits, description)
    if not all(isinstance(value, Interval) for value in values):
        raise TypeError("splits: give either contig names or Intervals, not both")
    if "train" in splits:
        raise ValueError("held-out regions name valid and test; everything else is train")
    regions = [(interval, name) for name, intervals in splits.items() for interval in intervals]
    description = {"kind": "held_out", **{name: [i.id for i in splits.get(name, [])] for name in SPLITS[1:]}}
    return _Plan(regions, True, {**description, "train": "everything else"})


def _bed_plan(intervals: list[Interval]) -> _Plan:
    regions, counts = [], dict.fromkeys(SPLITS, 0)
    for interval in intervals:
        if interval.name not in SPLITS:
            raise ValueError(
                f"BED interval {interval.id}: column 4 must name the split (train, valid or test), "
                f"got {interval.name!r}"
            )
        regions.append((interval, interval.name))
        counts[interval.name] += 1
    return _Plan(regions, False, {"kind": "bed", "intervals": counts})


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()

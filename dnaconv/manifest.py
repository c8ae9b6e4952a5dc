"""Data manifests: the dataclasses that describe a data source and the parser that validates its JSON.

A manifest (one JSON file per data source in `data_manifests/`, format in `data_manifests/README.md`)
names each file of a source with its URL, size, sha256 (or the publisher's md5 where that is all there
is), licence, and the contigs, records and bases the data should hold. `load_manifest` and
`list_manifests` read and validate them; every problem raises `FileFormatError` naming the file and the
field. `dnaconv.data` fetches and verifies the files a manifest lists.
"""

from __future__ import annotations

import json
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from dnaconv.errors import FileFormatError

__all__ = ["MANIFEST_DIR", "Expected", "Manifest", "ManifestFile", "list_manifests", "load_manifest"]


def _manifest_dir() -> Path:
    """The installed manifests (package data of dnaconv.data_manifests, the repo's data_manifests/)."""
    from importlib import resources

    try:
        return Path(str(resources.files("dnaconv.data_manifests")))
    except ModuleNotFoundError:
        return Path(__file__).resolve().parents[1] / "data_manifests"


MANIFEST_DIR = _manifest_dir()

_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]*")
_HEX = {"sha256": re.compile(r"[0-9a-f]{64}"), "md5": re.compile(r"[0-9a-f]{32}")}
_WANTED = {
    "text": "a non-empty string",
    "count": "a non-negative integer",
    "sha256": "64 lowercase hex digits",
    "md5": "32 lowercase hex digits",
    "list": "a list",
    "object": "an object",
}


@dataclass(frozen=True)
class ManifestFile:
    """One file of a data source."""

    path: str  # file name under the target directory
    url: str | None  # None: no public URL (see the manifest's notes); a mirror or url_override can supply one
    sha256: str | None
    size: int | None  # bytes
    format: str
    md5: str | None = None  # the publisher's md5, kept beside the sha256 or instead of it


@dataclass(frozen=True)
class Expected:
    """What the data should hold; `None` where no source states it."""

    file: str  # the manifest file (path) these counts describe
    records: int | None  # FASTA records, or BED lines
    bases: int | None  # total sequence length, or total interval length
    contigs: dict[str, int] = field(default_factory=dict)  # name -> length; may list only some contigs
    n_bases: int | None = None  # N (or n) bases among `bases`
    aliases: dict[str, str] = field(default_factory=dict)  # contig name -> another name for it (chr1)


@dataclass(frozen=True)
class Manifest:
    name: str
    description: str
    licence: str
    source: str  # page that describes the data and where it comes from
    files: tuple[ManifestFile, ...]
    expected: Expected
    path: Path  # the manifest's own JSON file
    citation: str | None = None
    notes: tuple[str, ...] = ()
    split: dict[str, dict[str, str]] = field(default_factory=dict)


# --- manifests ---------------------------------------------------------------------------------------


class _Object:
    """Typed access to one JSON object of a manifest; every problem names the file and the field."""

    def __init__(self, source: Path, where: str, value: Any):
        self.source, self.where = source, where
        if not isinstance(value, dict):
            self.fail(where or "(top level)", f"expected an object, got {_kind(value)}")
        self.value, self.seen = value, set()

    def fail(self, key: str, problem: str):
        raise FileFormatError(f"{self.source}: field '{key}': {problem}")

    def key(self, name: str) -> str:
        return f"{self.where}.{name}" if self.where else name

    def get(self, name: str, kind: str, *, required: bool = True, nullable: bool = False) -> Any:
        self.seen.add(name)
        if name not in self.value:
            if required:
                raise FileFormatError(f"{self.source}: missing field '{self.key(name)}'")
            return None
        value = self.value[name]
        if value is None and nullable:
            return None
        if not _is(value, kind):
            wanted = _WANTED[kind] + (" or null" if nullable else "")
            self.fail(self.key(name), f"expected {wanted}, got {_kind(value)} {json.dumps(value)[:40]}")
        return value

    def done(self):
        unknown = sorted(set(self.value) - self.seen)
        if unknown:
            raise FileFormatError(f"{self.source}: unknown field '{self.key(unknown[0])}'")


def _is(value: Any, kind: str) -> bool:
    if kind == "text":
        return isinstance(value, str) and bool(value.strip())
    if kind == "count":
        return isinstance(value, int) and not isinstance(value, bool) and value >= 0
    if kind in _HEX:
        return isinstance(value, str) and _HEX[kind].fullmatch(value) is not None
    return isinstance(value, {"list": list, "object": dict}[kind])


def _kind(value: Any) -> str:
    return "null" if value is None else type(value).__name__


def _url(fields: _Object, name: str) -> str | None:
    url = fields.get(name, "text", nullable=True)
    if url is not None and urlsplit(url).scheme not in ("http", "https"):
        fields.fail(fields.key(name), f"expected an http(s) URL or null, got {url!r}")
    return url


def _parse_file(source: Path, where: str, value: Any) -> ManifestFile:
    fields = _Object(source, where, value)
    path = fields.get("path", "text")
    if "/" in path or "\\" in path or path in (".", "..") or path != path.strip():
        fields.fail(fields.key("path"), f"expected a plain file name, got {path!r}")
    entry = ManifestFile(
        path=path,
        url=_url(fields, "url"),
        sha256=fields.get("sha256", "sha256", nullable=True),
        size=fields.get("size", "count", nullable=True),
        format=fields.get("format", "text"),
        md5=fields.get("md5", "md5", required=False, nullable=True),
    )
    fields.done()
    return entry


def _mapping(fields: _Object, name: str, kind: str) -> dict[str, Any]:
    value = fields.get(name, "object", required=False) or {}
    for key, item in value.items():
        if not key.strip() or not _is(item, kind):
            fields.fail(f"{fields.key(name)}.{key}", f"expected {_WANTED[kind]}, got {_kind(item)}")
    return dict(value)


def _parse_expected(source: Path, value: Any, paths: list[str]) -> Expected:
    fields = _Object(source, "expected", value)
    expected = Expected(
        file=fields.get("file", "text", required=False) or paths[0],
        records=fields.get("records", "count", nullable=True),
        bases=fields.get("bases", "count", nullable=True),
        contigs=_mapping(fields, "contigs", "count"),
        n_bases=fields.get("n_bases", "count", required=False, nullable=True),
        aliases=_mapping(fields, "aliases", "text"),
    )
    fields.done()
    if expected.file not in paths:
        fields.fail("expected.file", f"{expected.file!r} is not one of the manifest's files")
    if set(expected.aliases) - set(expected.contigs):
        fields.fail("expected.aliases", "keys must be contigs listed in expected.contigs")
    listed, total = len(expected.contigs), sum(expected.contigs.values())
    if expected.records is not None and listed > expected.records:
        fields.fail("expected.contigs", f"{listed} contigs listed but records is {expected.records}")
    if expected.bases is not None and listed and total > expected.bases:
        fields.fail("expected.contigs", f"lengths add up to {total} > bases {expected.bases}")
    if expected.bases is not None and listed and listed == expected.records and total != expected.bases:
        fields.fail("expected.contigs", f"all {listed} contigs listed but lengths add up to {total} != bases")
    return expected


def _parse(source: Path, data: Any) -> Manifest:
    fields = _Object(source, "", data)
    name = fields.get("name", "text")
    if not _NAME.fullmatch(name) or name != source.stem:
        fields.fail(
            "name", f"expected the file's stem {source.stem!r} (lowercase, digits, _.-), got {name!r}"
        )
    raw_files = fields.get("files", "list")
    if not raw_files:
        fields.fail("files", "expected at least one file")
    files = tuple(_parse_file(source, f"files[{i}]", value) for i, value in enumerate(raw_files))
    paths = [entry.path for entry in files]
    if len(set(paths)) != len(paths):
        fields.fail("files", "two files have the same path")
    notes = fields.get("notes", "list", required=False) or []
    if not all(_is(note, "text") for note in notes):
        fields.fail("notes", "expected a list of strings")
    split = fields.get("split", "object", required=False) or {}
    for scheme, parts in split.items():
        if not isinstance(parts, dict) or not all(_is(v, "text") for v in parts.values()):
            fields.fail(f"split.{scheme}", "expected an object of strings")
    manifest = Manifest(
        name=name,
        description=fields.get("description", "text"),
        licence=fields.get("licence", "text"),
        source=fields.get("source", "text"),
        citation=fields.get("citation", "text", required=False),
        notes=tuple(notes),
        files=files,
        expected=_parse_expected(source, fields.get("expected", "object"), paths),
        split=split,
        path=source,
    )
    fields.done()
    return manifest


def load_manifest(name_or_path: str | os.PathLike, directory: str | os.PathLike | None = None) -> Manifest:
    """Load and validate a manifest by name ('hg38', looked up in `directory` or MANIFEST_DIR) or path.

    Example:
        >>> load_manifest("grch37_chr20").expected.contigs
        {'20': 63025520}
    """
    text = os.fspath(name_or_path)
    if text.endswith(".json") or os.sep in text or "/" in text:
        path = Path(text)
        if not path.is_file():
            raise ValueError(f"{path}: no such data manifest")
    else:
        folder = Path(directory) if directory is not None else MANIFEST_DIR
        path = folder / f"{text}.json"
        if not path.is_file():
            known = ", ".join(sorted(p.stem for p in folder.glob("*.json"))) or "none"
            raise ValueError(f"unknown data manifest {text!r} in {folder} (known: {known})")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise FileFormatError(f"{path}: not valid JSON: {error}") from None
    return _parse(path, data)


def list_manifests(directory: str | os.PathLike | None = None) -> list[Manifest]:
    """Every manifest in `directory` (default MANIFEST_DIR), validated, sorted by name."""
    folder = Path(directory) if directory is not None else MANIFEST_DIR
    return [load_manifest(path) for path in sorted(folder.glob("*.json"))]


def _as_manifest(manifest: Manifest | str | os.PathLike) -> Manifest:
    return manifest if isinstance(manifest, Manifest) else load_manifest(manifest)

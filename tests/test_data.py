"""Data manifests and the fetcher, against a real HTTP server on 127.0.0.1 (no test touches the internet)."""

from __future__ import annotations

import hashlib
import http.server
import json
import re
import threading
from pathlib import Path

import numpy as np
import pytest

from dnaconv.data import (
    MANIFEST_DIR,
    MIRROR_ENV,
    Manifest,
    fetch,
    list_manifests,
    load_manifest,
    verify,
)
from dnaconv.errors import FileFormatError
from tests.conftest import CHR20

NAME = "blob.bin"
SIZE = 300_001  # odd, and not a multiple of the 1 MiB read block
CUT = 100_003


class RangeHandler(http.server.BaseHTTPRequestHandler):
    """GET with `Range: bytes=N-` (206, or 416 past the end); can ignore Range or drop after N bytes."""

    def do_GET(self):
        server = self.server
        server.requests.append((self.path, self.headers.get("Range")))
        body = server.files.get(self.path.lstrip("/"))
        if body is None:
            self.send_error(404)
            return
        start, wanted = 0, self.headers.get("Range")
        if wanted and server.honour_range:
            start = int(re.fullmatch(r"bytes=(\d+)-", wanted).group(1))
            if start >= len(body):
                self.send_response(416)
                self.send_header("Content-Range", f"bytes */{len(body)}")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
        self.send_response(206 if start else 200)
        if start:
            self.send_header("Content-Range", f"bytes {start}-{len(body) - 1}/{len(body)}")
        self.send_header("Content-Length", str(len(body) - start))
        self.end_headers()
        if server.cut_after is not None:  # send part of the body, then drop the connection
            self.wfile.write(body[start : start + server.cut_after])
            self.close_connection = True
            return
        self.wfile.write(body[start:])

    def log_message(self, *args):
        pass


@pytest.fixture
def server(monkeypatch):
    for name in (
        "http_proxy",
        "HTTP_PROXY",
        "https_proxy",
        "HTTPS_PROXY",
        "all_proxy",
        "ALL_PROXY",
        MIRROR_ENV,
    ):
        monkeypatch.delenv(name, raising=False)
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), RangeHandler)
    httpd.daemon_threads = True
    httpd.files, httpd.requests, httpd.honour_range, httpd.cut_after = {}, [], True, None
    httpd.url = f"http://127.0.0.1:{httpd.server_address[1]}"
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()
    httpd.server_close()
    thread.join()


@pytest.fixture
def blob() -> bytes:
    return np.random.default_rng(0).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


def write_manifest(folder: Path, name: str = "blob", **entry) -> Path:
    """A one-file manifest in `folder`; `entry` overrides fields of the file object (None deletes one)."""
    data = {
        "name": name,
        "description": "random bytes",
        "licence": "CC0",
        "source": "https://example.org/blob",
        "files": [
            {"path": NAME, "url": f"http://127.0.0.1:9/{NAME}", "sha256": None, "size": None, "format": "raw"}
        ],
        "expected": {"records": None, "bases": None},
    }
    data["files"][0].update(entry)
    path = folder / f"{name}.json"
    path.write_text(json.dumps(data))
    return path


@pytest.fixture
def manifest(tmp_path, blob, server) -> Manifest:
    server.files[NAME] = blob
    path = write_manifest(
        tmp_path, url=f"{server.url}/{NAME}", sha256=hashlib.sha256(blob).hexdigest(), size=len(blob)
    )
    return load_manifest(path)


@pytest.fixture
def dest(tmp_path) -> Path:
    return tmp_path / "data"


# --- fetch ---------------------------------------------------------------------------------------------


def test_fetch_downloads_and_verifies(manifest, dest, blob, server):
    paths = fetch(manifest, dest, progress=False)
    assert paths == [dest / NAME]
    assert (dest / NAME).read_bytes() == blob
    assert not (dest / f"{NAME}.part").exists()
    assert server.requests == [(f"/{NAME}", None)]
    assert [r.reason for r in verify(manifest, dest)] == ["ok"]


def test_interrupted_fetch_keeps_the_part_and_resumes_with_range(manifest, dest, blob, server):
    server.cut_after = CUT
    with pytest.raises(OSError, match=rf"^{NAME}: download interrupted after {CUT} of {SIZE} bytes"):
        fetch(manifest, dest, progress=False)
    assert (dest / f"{NAME}.part").stat().st_size == CUT
    assert not (dest / NAME).exists()

    server.cut_after = None
    fetch(manifest, dest, progress=False)
    assert server.requests[-1] == (f"/{NAME}", f"bytes={CUT}-")
    assert (dest / NAME).read_bytes() == blob
    assert not (dest / f"{NAME}.part").exists()


def test_server_ignoring_range_restarts_cleanly(manifest, dest, blob, server):
    dest.mkdir()
    (dest / f"{NAME}.part").write_bytes(b"x" * CUT)  # would corrupt the file if appended to
    server.honour_range = False
    fetch(manifest, dest, progress=False)
    assert server.requests == [(f"/{NAME}", f"bytes={CUT}-")]
    assert (dest / NAME).read_bytes() == blob


def test_complete_part_gets_416_and_is_verified(manifest, dest, blob, server):
    dest.mkdir()
    (dest / f"{NAME}.part").write_bytes(blob)
    fetch(manifest, dest, progress=False)
    assert server.requests == [(f"/{NAME}", f"bytes={SIZE}-")]
    assert (dest / NAME).read_bytes() == blob


@pytest.mark.parametrize("resumed", [False, True], ids=["fresh", "resumed"])
def test_corrupted_download_is_refused_and_deleted(manifest, dest, blob, server, resumed):
    if resumed:  # a bad part from an earlier run: the resumed whole does not match either
        dest.mkdir()
        (dest / f"{NAME}.part").write_bytes(b"x" * CUT)
    else:
        server.files[NAME] = blob[:1000] + bytes([blob[1000] ^ 1]) + blob[1001:]
    got = hashlib.sha256((b"x" * CUT + blob[CUT:]) if resumed else server.files[NAME]).hexdigest()
    message = (
        f"{NAME}: sha256 mismatch: expected {manifest.files[0].sha256}, got {got} "
        "(the download was deleted; fetch again)"
    )
    with pytest.raises(ValueError, match=re.escape(message)):
        fetch(manifest, dest, progress=False)
    assert not (dest / NAME).exists()
    assert not (dest / f"{NAME}.part").exists()


def test_short_download_is_a_size_mismatch(tmp_path, dest, blob, server):
    server.files[NAME] = blob[:-1]
    path = write_manifest(tmp_path, url=f"{server.url}/{NAME}", sha256=None, size=SIZE)
    with pytest.raises(ValueError, match=rf"^{NAME}: size {SIZE - 1} != {SIZE} \(the download was deleted"):
        fetch(path, dest, progress=False)


def test_existing_good_file_is_skipped_without_a_request(manifest, dest, blob, server):
    dest.mkdir()
    (dest / NAME).write_bytes(blob)
    assert fetch(manifest, dest, progress=False) == [dest / NAME]
    assert server.requests == []


def test_existing_bad_file_is_refused_unless_forced(manifest, dest, blob, server):
    dest.mkdir()
    bad = bytes(SIZE)
    (dest / NAME).write_bytes(bad)
    with pytest.raises(
        ValueError, match=r"already exists but sha256 mismatch; remove it or fetch with force=True"
    ):
        fetch(manifest, dest, progress=False)
    assert (dest / NAME).read_bytes() == bad
    assert server.requests == []

    fetch(manifest, dest, progress=False, force=True)
    assert (dest / NAME).read_bytes() == blob


def test_md5_only_manifest_is_checked(tmp_path, dest, blob, server):
    server.files[NAME] = blob
    path = write_manifest(tmp_path, url=f"{server.url}/{NAME}", md5=hashlib.md5(blob).hexdigest())
    fetch(path, dest, progress=False)
    assert [r.reason for r in verify(path, dest)] == ["ok"]
    server.files[NAME] = bytes(SIZE)
    (dest / NAME).unlink()
    with pytest.raises(ValueError, match=rf"^{NAME}: md5 mismatch: expected {hashlib.md5(blob).hexdigest()}"):
        fetch(path, dest, progress=False)


def test_unverifiable_file_is_downloaded_and_reported(tmp_path, dest, blob, server, caplog):
    server.files[NAME] = blob
    path = write_manifest(tmp_path, url=f"{server.url}/{NAME}")
    fetch(path, dest, progress=False)
    assert hashlib.sha256(blob).hexdigest() in caplog.text
    (result,) = verify(path, dest)
    assert (result.ok, result.reason) == (False, "not verifiable: no checksum in manifest")
    assert result.sha256 == hashlib.sha256(blob).hexdigest()


def test_url_override_and_mirror(tmp_path, dest, blob, server, monkeypatch):
    server.files["mirror/blob.bin"] = server.files["other.bin"] = blob
    path = write_manifest(
        tmp_path, url="https://publisher.invalid/x/blob.bin", sha256=hashlib.sha256(blob).hexdigest()
    )
    monkeypatch.setenv(MIRROR_ENV, f"{server.url}/mirror/")
    fetch(path, dest, progress=False)
    fetch(path, tmp_path / "b", progress=False, url_override={NAME: f"{server.url}/other.bin"})
    assert [p for p, _ in server.requests] == ["/mirror/blob.bin", "/other.bin"]
    with pytest.raises(ValueError, match=r"^url_override: other.bin is not a file of manifest blob$"):
        fetch(path, dest, url_override={"other.bin": f"{server.url}/other.bin"})


def test_fetch_errors_are_one_line(tmp_path, dest, server):
    path = write_manifest(tmp_path, url=f"{server.url}/absent.bin")
    with pytest.raises(OSError, match=rf"^{NAME}: HTTP 404 .* from {server.url}/absent.bin$"):
        fetch(path, dest, progress=False)
    path = write_manifest(tmp_path, url=None)
    with pytest.raises(ValueError, match=rf"^{NAME}: manifest blob gives no download URL"):
        fetch(path, dest, progress=False)


# --- verify --------------------------------------------------------------------------------------------


def test_verify_reports_each_problem(manifest, dest, blob):
    dest.mkdir()
    target = dest / NAME
    cases = [
        (None, "missing"),
        (blob, "ok"),
        (blob[:12], f"size 12 != {SIZE}"),
        (bytes(SIZE), "sha256 mismatch"),
    ]
    for content, reason in cases:
        target.unlink(missing_ok=True)
        if content is not None:
            target.write_bytes(content)
        (result,) = verify(manifest, dest)
        assert (result.path, result.ok, result.reason) == (target, reason == "ok", reason)


def test_verify_checks_contigs_against_the_fai(tmp_path):
    (tmp_path / "g.fa").write_text(">a\nACGT\n>b\nAC\n")
    data = {
        "name": "g",
        "description": "tiny genome",
        "licence": "CC0",
        "source": "https://example.org",
        "files": [{"path": "g.fa", "url": None, "sha256": None, "size": 16, "format": "FASTA"}],
        "expected": {"records": 2, "bases": 6, "contigs": {"a": 4, "chrB": 2}, "aliases": {"chrB": "b"}},
    }
    (tmp_path / "g.json").write_text(json.dumps(data))
    results = verify(tmp_path / "g.json", tmp_path, check_contigs=True)
    assert results[-1].reason == "contigs not checked: no g.fa.fai beside the FASTA"
    (tmp_path / "g.fa.fai").write_text("a\t4\t3\t4\t5\nb\t2\t11\t2\t3\n")
    assert verify(tmp_path / "g.json", tmp_path, check_contigs=True)[-1].reason == "contigs ok (2 checked)"
    (tmp_path / "g.fa.fai").write_text("a\t5\t3\t5\t6\n")
    result = verify(tmp_path / "g.json", tmp_path, check_contigs=True)[-1]
    assert (result.ok, result.reason) == (
        False,
        "contigs: contig a length 5 != 4; contig chrB missing; records 1 != 2; bases 5 != 6",
    )
    (tmp_path / "g.fa.fai").write_text("a 4\n")
    with pytest.raises(FileFormatError, match=r"g.fa.fai: line 1 is not a .fai line"):
        verify(tmp_path / "g.json", tmp_path, check_contigs=True)


# --- manifests -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "change, problem",
    [
        (lambda d: d.pop("licence"), "missing field 'licence'"),
        (
            lambda d: d["files"][0].update(sha256="xyz"),
            "field 'files[0].sha256': expected 64 lowercase hex digits or null",
        ),
        (lambda d: d["files"][0].update(sha256="A" * 64), "field 'files[0].sha256'"),
        (lambda d: d["files"][0].pop("size"), "missing field 'files[0].size'"),
        (lambda d: d["files"][0].update(sha1="0" * 40), "unknown field 'files[0].sha1'"),
        (lambda d: d["files"][0].update(path="../x"), "field 'files[0].path': expected a plain file name"),
        (lambda d: d["files"][0].update(url="ftp://x/y"), "field 'files[0].url': expected an http(s) URL"),
        (
            lambda d: d["files"][0].update(size=-1),
            "field 'files[0].size': expected a non-negative integer or null",
        ),
        (lambda d: d.update(name="other"), "field 'name': expected the file's stem 'blob'"),
        (lambda d: d.update(files=[]), "field 'files': expected at least one file"),
        (
            lambda d: d["expected"].update(records=1, bases=10, contigs={"a": 4}),
            "field 'expected.contigs': all 1 contigs listed",
        ),
        (lambda d: d["expected"].update(file="nope"), "field 'expected.file'"),
        (lambda d: d.update(split={"s": {"train": 3}}), "field 'split.s'"),
    ],
    ids=[
        "missing",
        "sha256-format",
        "sha256-upper",
        "missing-size",
        "unknown",
        "path",
        "url",
        "size",
        "name",
        "no-files",
        "contig-sum",
        "expected-file",
        "split",
    ],
)
def test_manifest_validation_names_file_and_field(tmp_path, change, problem):
    path = write_manifest(tmp_path)
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data))
    with pytest.raises(FileFormatError, match=re.escape(f"{path}: {problem}")):
        load_manifest(path)


def test_unknown_manifest_name_and_bad_json(tmp_path):
    write_manifest(tmp_path)
    with pytest.raises(ValueError, match=r"unknown data manifest 'nope' in .* \(known: blob\)"):
        load_manifest("nope", directory=tmp_path)
    assert load_manifest("blob", directory=tmp_path).name == "blob"
    with pytest.raises(ValueError, match=r"absent.json: no such data manifest"):
        load_manifest(tmp_path / "absent.json")
    (tmp_path / "bad.json").write_text("{")
    with pytest.raises(FileFormatError, match=r"bad.json: not valid JSON"):
        load_manifest(tmp_path / "bad.json")


def test_shipped_manifests_load_and_validate():
    manifests = {m.name: m for m in list_manifests()}
    assert set(manifests) >= {"hg38", "t2t_chm13v2", "hyenadna_hg38_intervals", "grch37_chr20"}
    assert {p.stem for p in MANIFEST_DIR.glob("*.json")} == set(manifests)
    hg38, t2t = manifests["hg38"].expected, manifests["t2t_chm13v2"].expected
    primary = [f"chr{i}" for i in range(1, 23)] + ["chrX", "chrY", "chrM"]
    assert list(hg38.contigs) == primary
    assert (hg38.contigs["chr1"], hg38.contigs["chrY"], hg38.contigs["chrM"]) == (248956422, 57227415, 16569)
    assert [t2t.aliases[name] for name in t2t.contigs] == primary
    assert t2t.contigs["CP068277.2"] == 248387328
    for manifest in manifests.values():
        for entry in manifest.files:
            assert entry.sha256 or entry.md5 or manifest.notes, f"{manifest.name}: {entry.path} unexplained"
    assert manifests["grch37_chr20"].split["default_model"]["held_out"] == "20:55000001-60000000"


@pytest.mark.realdata
def test_grch37_chr20_manifest_verifies_against_shared_data():
    manifest = load_manifest("grch37_chr20")
    if CHR20.name != manifest.files[0].path:
        pytest.skip(f"DNACONV_CHR20 points to {CHR20.name}, not {manifest.files[0].path}")
    results = verify(manifest, CHR20.parent, check_contigs=True)
    assert [(r.ok, r.reason) for r in results] == [(True, "ok")] * 3 + [(True, "contigs ok (1 checked)")]

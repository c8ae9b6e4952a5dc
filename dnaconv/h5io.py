"""HDF5 embedding files, written as the embeddings are computed (no whole-record buffers).

Layout (README "Output format" documents it for users):

    /                      attrs: dnaconv_version, model, model_sha256, config (JSON), command, created,
                                  layer, rc, pool_window, per_position, softmask, store_dtype, complete
    /<record>              attrs: id, source, contig, start, end (0-based half-open), strand, rc, length,
                                  n_count, description, name, complete (set last)
    /<record>/embedding    [L, W] float16 (or float32), chunked along L, gzip(shuffle) compressed
    /<record>/pooled       [W] float32, mean over non-N positions
    /<record>/windows      [ceil(L / w), W] float32, mean over the non-N positions of each window (NaN if none)
    /<record>/softmask     [L] bool, True where the input base was lowercase

W = D, or 2D for ``--rc concat`` (forward strand first). Per-position chunks are compressed on a thread pool
(zlib releases the GIL) and stored with HDF5's direct chunk write, so compression does not serialise the
run: this is the standard shuffle + deflate pipeline, readable by any HDF5 reader.
"""

from __future__ import annotations

import os
import zlib
from concurrent.futures import ThreadPoolExecutor

import h5py
import numpy as np

from dnaconv.tokenizer import N

__all__ = ["EmbeddingFile", "RecordWriter", "group_name"]

_DEFLATE_LEVEL = 1  # embeddings are nearly incompressible noise in the low bits; level 1 gets most of it


def group_name(record_id: str) -> str:
    """HDF5-safe group name: '/' and '%' percent-escaped, '.' alone escaped."""
    name = record_id.replace("%", "%25").replace("/", "%2F")
    return "%2E" if name == "." else name


def _shuffle_deflate(block: np.ndarray) -> bytes:
    """HDF5's shuffle filter then deflate (zlib stream), on one C-contiguous chunk."""
    b = np.ascontiguousarray(block).view(np.uint8).reshape(-1, block.itemsize)
    return zlib.compress(np.ascontiguousarray(b.T).tobytes(), _DEFLATE_LEVEL)


class EmbeddingFile:
    """One output file. ``resume=True`` opens an existing file and keeps its complete records."""

    def __init__(
        self,
        path: str,
        root_attrs: dict,
        resume: bool = False,
        compression: str = "gzip",
        workers: int | None = None,
    ):
        self.path = path
        self.compression = compression
        # The chunk cache is off: every chunk is read at most once, and direct chunk writes bypass it.
        self.f = h5py.File(path, "a" if resume else "w", rdcc_nbytes=0)
        if not resume:
            for k, v in root_attrs.items():
                self.f.attrs[k] = v
        self.f.attrs["complete"] = False
        self.f.flush()
        self.workers = workers or max(1, min(8, os.cpu_count() or 1))
        self.pool = ThreadPoolExecutor(max_workers=self.workers)

    def attrs(self) -> dict:
        return dict(self.f.attrs)

    def is_complete(self, record_id: str) -> bool:
        g = self.f.get(group_name(record_id))
        return g is not None and bool(g.attrs.get("complete", False))

    def record(
        self,
        attrs: dict,
        width: int,
        length: int | None,
        per_position: bool,
        store_dtype: str = "float16",
        pool_window: int | None = None,
        softmask: bool = False,
    ) -> RecordWriter:
        name = group_name(attrs["id"])
        if name in self.f:
            del self.f[name]  # an incomplete record from an interrupted run
        g = self.f.create_group(name)
        for k, v in attrs.items():
            g.attrs[k] = "" if v is None else v
        g.attrs["complete"] = False
        return RecordWriter(
            self, g, width, length, per_position, np.dtype(store_dtype), pool_window, softmask
        )

    def finish(self) -> None:
        self.f.attrs["complete"] = True
        self.close()

    def close(self) -> None:
        if self.f:
            self.pool.shutdown(wait=True)
            self.f.close()
            self.f = None


class RecordWriter:
    """Writes one record: ``append`` the forward strand in order, optionally ``combine`` a second strand
    (rows given in forward order, any order of calls), then ``commit``."""

    def __init__(
        self,
        file: EmbeddingFile,
        group: h5py.Group,
        width: int,
        length: int | None,
        per_position: bool,
        store_dtype: np.dtype,
        pool_window: int | None,
        softmask: bool,
    ):
        self.file, self.g, self.width = file, group, width
        self.length = 0  # rows appended so far
        self.known_length = length
        self.window = pool_window
        self.n_count = 0
        self.sum = np.zeros(width, np.float64)  # forward strand: sum over non-N rows
        self.sum2: np.ndarray | None = None  # second strand
        self.emb = self.win = self.mask = None
        self.rows = 0
        self.inflight: list = []  # (chunk index, future of its compressed bytes), in submission order
        if per_position:
            self.rows = max(
                256, 1 << ((1 << 20) // (width * store_dtype.itemsize)).bit_length() - 1
            )  # ~1 MiB chunks
            shape = (length or 0, width)
            opts = {}
            if file.compression == "gzip":
                opts = dict(compression="gzip", compression_opts=_DEFLATE_LEVEL, shuffle=True)
            elif file.compression == "lzf":
                opts = dict(compression="lzf")
            self.emb = group.create_dataset(
                "embedding",
                shape=shape,
                maxshape=(None, width),
                dtype=store_dtype,
                chunks=(self.rows, width),
                **opts,
            )
            self.buf = np.zeros((self.rows, width), store_dtype)
            self.buf_rows = 0
        if pool_window:
            n_win = 0 if length is None else -(-length // pool_window)
            self.win = group.create_dataset(
                "windows",
                shape=(n_win, width),
                maxshape=(None, width),
                dtype="f4",
                chunks=(min(4096, max(1, n_win)) if n_win else 1024, width),
                compression="gzip",
                compression_opts=_DEFLATE_LEVEL,
                shuffle=True,
            )
            self.wsum = np.zeros(width, np.float64)
            self.wcount = 0  # non-N rows in the open window
            self.wrows = 0  # rows in the open window
            self.wdone = 0  # windows written
            self.wbuf: list[np.ndarray] = []
            self.pending2: dict[int, list] = {}  # second strand: window -> [sum, rows seen]
        if softmask:
            self.mask = group.create_dataset(
                "softmask",
                shape=(length or 0,),
                maxshape=(None,),
                dtype=bool,
                chunks=(1 << 16,),
                compression="gzip",
                compression_opts=_DEFLATE_LEVEL,
            )
        self.pending_chunks: dict[int, list] = {}  # second strand: chunk -> [rows buffer, rows seen]

    # -- forward strand -------------------------------------------------------------------------------
    def append(self, emb: np.ndarray, tokens: np.ndarray, softmask: np.ndarray | None = None) -> None:
        """emb [n, D] (D may be < width: the forward half of a concatenation), tokens [n] uint8."""
        n = emb.shape[0]
        keep = tokens != N
        self.n_count += int(n - keep.sum())
        d = emb.shape[1]
        self.sum[:d] += emb[keep].sum(0, dtype=np.float64)
        if self.emb is not None:
            self._append_rows(emb)
        if self.win is not None:
            self._append_windows(emb, keep)
        if self.mask is not None and softmask is not None:
            self.mask.resize((self.length + n,))
            self.mask[self.length : self.length + n] = softmask
        self.length += n

    def _append_rows(self, emb: np.ndarray) -> None:
        i, n, d = 0, emb.shape[0], emb.shape[1]
        while i < n:
            take = min(n - i, self.rows - self.buf_rows)
            self.buf[self.buf_rows : self.buf_rows + take, :d] = emb[i : i + take]
            self.buf_rows += take
            i += take
            if self.buf_rows == self.rows:
                self._write_chunk((self.length + i - 1) // self.rows, self.buf)
                self.buf = np.zeros_like(self.buf)
                self.buf_rows = 0

    def _write_chunk(self, index: int, block: np.ndarray) -> None:
        lo = index * self.rows
        if self.emb.shape[0] <= lo:  # length not known in advance: grow by whole chunks, trim at the end
            self.emb.resize(((index + 1) * self.rows, self.width))
        if self.file.compression != "gzip":
            hi = min(lo + self.rows, self.emb.shape[0])
            self.emb[lo:hi] = block[: hi - lo]
            return
        self.inflight.append((index, self.file.pool.submit(_shuffle_deflate, block)))
        self._drain(limit=2 * self.file.workers)

    def _drain(self, limit: int = 0) -> None:
        while len(self.inflight) > limit:
            index, fut = self.inflight.pop(0)
            self.emb.id.write_direct_chunk((index * self.rows, 0), fut.result())

    def _append_windows(self, emb: np.ndarray, keep: np.ndarray) -> None:
        w, i, n = self.window, 0, emb.shape[0]
        while i < n:
            take = min(n - i, w - self.wrows)
            k = keep[i : i + take]
            self.wsum[: emb.shape[1]] += emb[i : i + take][k].sum(0, dtype=np.float64)
            self.wcount += int(k.sum())
            self.wrows += take
            i += take
            if self.wrows == w:
                self._close_window()

    def _close_window(self) -> None:
        row = self.wsum / self.wcount if self.wcount else np.full(self.width, np.nan)
        self.wbuf.append(row.astype(np.float32))
        self.wsum, self.wcount, self.wrows = np.zeros(self.width, np.float64), 0, 0
        if len(self.wbuf) >= 4096:
            self._flush_windows()

    def _flush_windows(self) -> None:
        if not self.wbuf:
            return
        rows = np.stack(self.wbuf)
        if self.win.shape[0] < self.wdone + len(rows):
            self.win.resize((self.wdone + len(rows), self.width))
        self.win[self.wdone : self.wdone + len(rows)] = rows
        self.wdone += len(rows)
        self.wbuf = []

    def _finish_forward(self) -> None:
        if self.emb is not None:
            if self.buf_rows:  # the last, partial chunk (stored full-size, as HDF5 stores edge chunks)
                self._write_chunk(self.length // self.rows, self.buf)
                self.buf_rows = 0
            self._drain()
            if self.emb.shape[0] != self.length:
                self.emb.resize((self.length, self.width))
        if self.win is not None:
            if self.wrows:
                self._close_window()
            self._flush_windows()

    # -- second strand (reverse complement, flipped back to forward positions) -------------------------
    def combine(self, start: int, emb: np.ndarray, tokens: np.ndarray, mode: str) -> None:
        """Rows for forward positions [start, start + n), in forward order. mode: 'mean' or 'concat'."""
        if self.sum2 is None:
            self._finish_forward()
            self.sum2 = np.zeros(self.width, np.float64)
        keep = tokens != N
        d = emb.shape[1]
        off = d if mode == "concat" else 0
        self.sum2[off : off + d] += emb[keep].sum(0, dtype=np.float64)
        if self.emb is not None:
            self._combine_rows(start, emb, mode)
        if self.win is not None:
            self._combine_windows(start, emb, keep, mode)

    def _combine_rows(self, start: int, emb: np.ndarray, mode: str) -> None:
        n, d = emb.shape
        pos = start
        while pos < start + n:
            c = pos // self.rows
            lo, hi = c * self.rows, min((c + 1) * self.rows, self.length)
            take = min(hi, start + n) - pos
            entry = self.pending_chunks.setdefault(c, [np.zeros((hi - lo, d), np.float32), 0])
            entry[0][pos - lo : pos - lo + take] = emb[pos - start : pos - start + take]
            entry[1] += take
            if entry[1] == hi - lo:
                del self.pending_chunks[c]
                block = np.zeros((self.rows, self.width), self.emb.dtype)
                block[: hi - lo] = self.emb[lo:hi]
                if mode == "concat":
                    block[: hi - lo, d:] = entry[0]
                else:
                    block[: hi - lo] = (block[: hi - lo].astype(np.float32) + entry[0]) / 2
                self._write_chunk(c, block)
            pos += take

    def _combine_windows(self, start: int, emb: np.ndarray, keep: np.ndarray, mode: str) -> None:
        """Add the second strand's rows to per-window sums; windows it completes (a contiguous range) are
        combined with the stored forward means in one read and one write."""
        w, n, d = self.window, emb.shape[0], emb.shape[1]
        first, last = start // w, (start + n - 1) // w
        bounds = np.arange(first, last + 1) * w - start
        bounds[0] = 0
        sums = np.add.reduceat(np.where(keep[:, None], emb, 0).astype(np.float64), bounds, axis=0)  # [nw, d]
        counts = np.add.reduceat(keep.astype(np.int64), bounds)
        rows = np.diff(np.append(bounds, n))
        done = []
        for i, j in enumerate(range(first, last + 1)):
            entry = self.pending2.setdefault(j, [np.zeros(d, np.float64), 0, 0])
            entry[0] += sums[i]
            entry[1] += int(counts[i])
            entry[2] += int(rows[i])
            if entry[2] == min((j + 1) * w, self.length) - j * w:
                done.append(j)
        if not done:
            return
        lo, hi = min(done), max(done) + 1  # the windows this call completes are contiguous
        stored = self.win[lo:hi].astype(np.float64)
        for j in range(lo, hi):
            s_, c_, _ = self.pending2.pop(j)
            mean2 = s_ / c_ if c_ else np.full(d, np.nan)
            if mode == "concat":
                stored[j - lo, d:] = mean2
            else:
                stored[j - lo] = (stored[j - lo] + mean2) / 2
        self.win[lo:hi] = stored.astype(np.float32)

    # -- finish -----------------------------------------------------------------------------------------
    def commit(self, mode: str | None = None) -> None:
        """Write pooled and the final attrs, then mark the record complete (last)."""
        if self.sum2 is None:
            self._finish_forward()
        elif self.pending_chunks or getattr(self, "pending2", None):
            raise RuntimeError("second strand did not cover the whole record")
        self._drain()
        n = self.length - self.n_count
        if self.sum2 is None:
            pooled = self.sum / n if n else np.full(self.width, np.nan)
        elif mode == "concat":
            pooled = (self.sum + self.sum2) / n if n else np.full(self.width, np.nan)
        else:
            pooled = (self.sum + self.sum2) / (2 * n) if n else np.full(self.width, np.nan)
        self.g.create_dataset("pooled", data=pooled.astype(np.float32))
        self.g.attrs["length"] = self.length
        self.g.attrs["n_count"] = self.n_count
        self.g.attrs["end"] = int(self.g.attrs["start"]) + self.length
        self.g.attrs["complete"] = True
        self.file.f.flush()

"""BM25 keyword search (Okapi BM25, Lucene's idf): postings written at build time, memory-mapped to search.

A build streams each passage's terms into KeywordWriter; finish() turns them into two arrays
sorted by term (the passages holding each term, and each posting's precomputed BM25 weight
tf (k1 + 1) / (tf + k1 (1 - b + b len / avg len))) and a vocabulary table in SQLite giving each
term's slice of them. KeywordIndex opens those without reading them: a query reads the
postings of its own terms only, so memory follows what questions touch, not the corpus size.

    keyword_rows.npy     int32: passage row of every posting, grouped by term
    keyword_weights.npy  float32: the posting's BM25 weight (idf applied at query time)
    keyword_tf.npy       uint16: the posting's term frequency, and
    keyword_lengths.npy  int32: each passage's length in terms: what an incremental build copies
                         for unchanged passages instead of reading their terms again
    terms table          term -> [start, stop) in those arrays (in the index's SQLite file)

A passage's terms are those of its title, heading and text with the corpus's acronyms written
out (chunk_keyword_terms): the build writes them, and a question is read the same way.
"""

from __future__ import annotations

import math
import sqlite3
from array import array
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..ingest.textnorm import GlueSplitter, keyword_terms
from ..types import Chunk
from .acronyms import expand

ROWS_FILE = "keyword_rows.npy"
WEIGHTS_FILE = "keyword_weights.npy"
TF_FILE = "keyword_tf.npy"
LENGTHS_FILE = "keyword_lengths.npy"
TERMS_TABLE = "CREATE TABLE terms (term TEXT PRIMARY KEY, start INTEGER NOT NULL, stop INTEGER NOT NULL) WITHOUT ROWID"
_POSTINGS_FILE = "keyword_postings.tmp"  # (term id, row, tf) triples as the build streams them
_POSTING = np.dtype([("term", "<i4"), ("row", "<i4"), ("tf", "<u2")])
_BLOCK = 4_000_000  # postings read or sorted at a time when finishing: bounds the build's memory (~150 MB)

AVERAGE_DRIFT = 0.01
"""How far the average passage length may move from the one stored BM25 weights were normalised by
before an index is written anew (an overlay here, a Milvus version brought up to date there)."""


def chunk_search_text(chunk: Chunk, title: str) -> str:
    """What keyword search reads for a chunk: its title, heading and text."""
    return f"{title}\n{chunk.heading}\n{chunk.text}"


def chunk_keyword_terms(chunk: Chunk, title: str, acronyms: dict[str, str], splitter: GlueSplitter) -> list[str]:
    """The terms a chunk is found by (written into the index at build time)."""
    return keyword_terms(expand(chunk_search_text(chunk, title), acronyms), splitter)


def idf(size: int, df: int) -> float:
    """Lucene's BM25 idf: log(1 + (N - df + 0.5) / (df + 0.5)); an unseen term counts as the rarest."""
    return math.log(1 + (size - df + 0.5) / (df + 0.5))


def average_length(lengths: np.ndarray) -> float:
    """The passages' average length in terms (1 for none)."""
    return float(lengths.mean()) if len(lengths) else 1.0


def length_norms(lengths: np.ndarray, k1: float, b: float, average: float | None = None) -> np.ndarray:
    """Each passage's k1 (1 - b + b len / avg len), from the passages' lengths in terms (float32);
    avg len is theirs unless `average` is given."""
    return k1 * (1 - b + b * lengths / max(average_length(lengths) if average is None else average, 1e-9))


def posting_weights(tf: np.ndarray, norms: np.ndarray | np.floating[Any], k1: float) -> np.ndarray:
    """BM25 weights tf (k1 + 1) / (tf + norm) of postings (tf float32, each with its passage's norm)."""
    return (tf * (k1 + 1) / (tf + norms)).astype("<f4")


def passage_lengths(folder: Path) -> np.ndarray:
    """Each passage's length in terms (float32), as a version folder stores them."""
    return np.load(folder / LENGTHS_FILE).astype(np.float32)


class KeywordWriter:
    """Collects each passage's terms, in row order, into a folder; finish() writes the index."""

    def __init__(self, folder: Path, k1: float = 1.2, b: float = 0.75) -> None:
        self.folder = folder
        self.k1, self.b = k1, b
        self._vocabulary: dict[str, int] = {}
        self._lengths = array("i")
        self._postings = open(folder / _POSTINGS_FILE, "wb")  # noqa: SIM115 - closed by finish()
        self._pending: list[tuple[int, int, int]] = []
        self._copies: list[tuple[int, int, int]] = []  # (old first row, old end row, shift), copied at finish
        self._copied_from: Path | None = None

    @property
    def rows(self) -> int:
        return len(self._lengths)

    def add(self, terms: Sequence[str]) -> int:
        """Index the next passage's terms; returns its row."""
        row = len(self._lengths)
        self._lengths.append(len(terms))
        vocabulary = self._vocabulary
        for term, tf in Counter(terms).items():
            term_id = vocabulary.setdefault(term, len(vocabulary))
            self._pending.append((term_id, row, min(tf, 65535)))
        if len(self._pending) >= 100_000:
            self._flush()
        return row

    def can_copy(self, old: Path) -> bool:
        """Whether the postings of `old` (a version folder) can be copied rather than re-added."""
        return (old / TF_FILE).exists() and (old / LENGTHS_FILE).exists() and self._copied_from in (None, old)

    def copy(self, old: Path, first: int, end: int) -> None:
        """Passages [first, end) of the version in `old`, unchanged, as the next rows: their lengths
        now, their postings in one pass over the old postings when the index is finished."""
        self._copied_from = old
        shift = len(self._lengths) - first
        lengths = np.load(old / LENGTHS_FILE, mmap_mode="r")
        self._lengths.extend(np.asarray(lengths[first:end], dtype=np.int32).tolist())
        last = self._copies[-1] if self._copies else None
        if last is not None and last[1] == first and last[2] == shift:
            self._copies[-1] = (last[0], end, shift)
        else:
            self._copies.append((first, end, shift))

    def _copy_postings(self, db: sqlite3.Connection) -> None:
        """The copied passages' postings, read from the old version block by block."""
        if not self._copies or self._copied_from is None:
            return
        old = self._copied_from
        rows = np.load(old / ROWS_FILE, mmap_mode="r")
        tfs = np.load(old / TF_FILE, mmap_mode="r")
        size = int(np.load(old / LENGTHS_FILE, mmap_mode="r").shape[0])
        row_map = np.full(size + 1, -1, dtype=np.int64)
        for first, end, shift in self._copies:
            row_map[first:end] = np.arange(first + shift, end + shift)
        # Each old term's id in this index, in the order of its postings.
        old_terms = db.execute("SELECT term, start FROM old.terms ORDER BY start").fetchall()
        starts = np.array([start for _, start in old_terms] + [len(rows)], dtype=np.int64)
        vocabulary = self._vocabulary
        term_ids = np.array([vocabulary.setdefault(term, len(vocabulary)) for term, _ in old_terms], dtype=np.int32)
        for begin in range(0, len(rows), _BLOCK):
            stop = min(begin + _BLOCK, len(rows))
            new_rows = row_map[np.asarray(rows[begin:stop], dtype=np.int64)]
            keep = new_rows >= 0
            if not keep.any():
                continue
            which = np.searchsorted(starts, np.arange(begin, stop, dtype=np.int64)[keep], side="right") - 1
            block = np.empty(int(keep.sum()), dtype=_POSTING)
            block["term"], block["row"] = term_ids[which], new_rows[keep]
            block["tf"] = np.asarray(tfs[begin:stop])[keep]
            block.tofile(self._postings)

    def _flush(self) -> None:
        if self._pending:
            np.array(self._pending, dtype=_POSTING).tofile(self._postings)
            self._pending = []

    def finish(self, db: sqlite3.Connection, average: float | None = None) -> dict[str, float]:
        """Sort the postings by term, weigh them, write the arrays and the terms table; weights are
        normalised by `average` passage length when given (an overlay takes its base's), else by these
        passages' own.

        The postings file is read in blocks (never mapped whole) and the arrays are written in
        order, a range of terms at a time: memory stays near `_BLOCK` postings at any corpus size.
        """
        self._flush()
        self._copy_postings(db)
        self._postings.close()
        tmp = self.folder / _POSTINGS_FILE
        total = tmp.stat().st_size // _POSTING.itemsize
        lengths = np.frombuffer(self._lengths, dtype=np.int32).astype(np.float32) if len(self._lengths) else \
            np.zeros(0, dtype=np.float32)
        norm = length_norms(lengths, self.k1, self.b, average)
        counts = np.zeros(len(self._vocabulary), dtype=np.int64)
        for block in _blocks(tmp, total):
            counts += np.bincount(block["term"], minlength=len(counts))
        starts = np.concatenate([[0], np.cumsum(counts)]).astype(np.int64)
        np.save(self.folder / LENGTHS_FILE, np.frombuffer(self._lengths, dtype=np.int32)
                if len(self._lengths) else np.zeros(0, dtype=np.int32))
        with open(self.folder / ROWS_FILE, "wb") as rows, open(self.folder / WEIGHTS_FILE, "wb") as weights, \
                open(self.folder / TF_FILE, "wb") as tfs:
            for handle, dtype in ((rows, "<i4"), (weights, "<f4"), (tfs, "<u2")):
                np.lib.format.write_array_header_2_0(handle, {"descr": dtype, "fortran_order": False,
                                                             "shape": (total,)})
            low = 0
            while low < len(counts):  # terms [low, high) hold at most _BLOCK postings (or one term)
                high = max(low + 1, int(np.searchsorted(starts, starts[low] + _BLOCK, side="right")) - 1)
                high = min(high, len(counts))
                picked = [block[(block["term"] >= low) & (block["term"] < high)] for block in _blocks(tmp, total)]
                part = np.concatenate(picked) if picked else np.zeros(0, dtype=_POSTING)
                part = part[np.lexsort((part["row"], part["term"]))]  # by term, then row
                tf = part["tf"].astype(np.float32)
                rows.write(part["row"].astype("<i4").tobytes())
                tfs.write(part["tf"].astype("<u2").tobytes())
                weights.write(posting_weights(tf, norm[part["row"]], self.k1).tobytes())
                low = high
        tmp.unlink()
        db.execute(TERMS_TABLE)
        db.executemany("INSERT INTO terms VALUES (?, ?, ?)",  # a term only a replaced passage held is gone
                       ((term, int(starts[i]), int(starts[i + 1])) for term, i in self._vocabulary.items()
                        if starts[i + 1] > starts[i]))
        return {"passages": len(self._lengths), "terms": int(np.count_nonzero(counts)), "postings": int(starts[-1]),
                "k1": self.k1, "b": self.b, "average_length": round(average_length(lengths), 3),
                **({"weighed_with_average_length": average} if average is not None else {})}

    def abandon(self) -> None:
        self._postings.close()


def _blocks(path: Path, total: int) -> Iterator[np.ndarray]:
    """The postings file, `_BLOCK` postings at a time."""
    with open(path, "rb") as handle:
        for _ in range(0, total, _BLOCK):
            yield np.fromfile(handle, dtype=_POSTING, count=_BLOCK)


class KeywordIndex:
    """BM25 over the postings a build wrote; `connection` gives the index's SQLite connection
    (one per thread)."""

    def __init__(self, folder: Path, size: int, connection: Callable[[], sqlite3.Connection]) -> None:
        self.size = size
        self._connection = connection
        self._rows = np.load(folder / ROWS_FILE, mmap_mode="r")
        self._weights = np.load(folder / WEIGHTS_FILE, mmap_mode="r")
        self._slices: dict[str, tuple[int, int] | None] = {}

    def _slice(self, terms: Iterable[str]) -> dict[str, tuple[int, int]]:
        wanted = [t for t in set(terms) if t not in self._slices]
        if wanted:
            found = dict.fromkeys(wanted)
            for start in range(0, len(wanted), 500):
                part = wanted[start:start + 500]
                marks = ",".join("?" * len(part))
                for term, begin, stop in self._connection().execute(
                        f"SELECT term, start, stop FROM terms WHERE term IN ({marks})", part):
                    found[term] = (int(begin), int(stop))
            if len(self._slices) > 200_000:
                self._slices.clear()
            self._slices.update(found)
        return {t: s for t in set(terms) if (s := self._slices.get(t)) is not None}

    def scores(self, query_terms: Sequence[str], out: np.ndarray | None = None) -> np.ndarray:
        """A BM25 score for every passage (zeros where no term matches)."""
        scores = np.zeros(self.size, dtype=np.float32) if out is None else out
        for start, stop in self._slice(query_terms).values():
            scores[self._rows[start:stop]] += idf(self.size, stop - start) * self._weights[start:stop]
        return scores

    def scores_at(self, query_terms: Sequence[str], rows: np.ndarray) -> np.ndarray:
        """The BM25 score of each of these passages (a term's postings are in row order)."""
        scores = np.zeros(len(rows), dtype=np.float32)
        if not len(rows):
            return scores
        for start, stop in self._slice(query_terms).values():
            held = self._rows[start:stop]
            at = np.minimum(np.searchsorted(held, rows), len(held) - 1)
            found = np.asarray(held[at]) == rows
            scores[found] += idf(self.size, stop - start) * self._weights[start + at[found]]
        return scores

    def postings(self, term: str) -> tuple[np.ndarray, np.ndarray]:
        """The passages holding a term (rows, ascending) and each posting's BM25 weight (none: empty)."""
        found = self._slice([term]).get(term)
        if found is None:
            return np.zeros(0, dtype=np.int32), np.zeros(0, dtype=np.float32)
        start, stop = found
        return self._rows[start:stop], self._weights[start:stop]

    def term_idf(self, term: str) -> float:
        """idf of a term; unseen terms get the idf of a term seen once less (rarest)."""
        found = self._slice([term]).get(term)
        return idf(self.size, found[1] - found[0] if found else 0)

    def knows(self, term: str) -> bool:
        return term in self._slice([term])

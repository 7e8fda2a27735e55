"""Detection of repeated rows and keys across chunks and files, in 8 bytes per distinct value."""

from __future__ import annotations

import hashlib

import numpy as np
import pandas as pd


class HashSet64:
    """A set of 64-bit hashes kept as one sorted uint64 array, 8 bytes per member.

    NOTE: two different values with the same hash count as equal. With n distinct values the
    chance of any such collision is about n**2 / 2**65: about 3e-4 for 100 million rows.
    """

    def __init__(self) -> None:
        self._members = np.empty(0, dtype=np.uint64)

    def __len__(self) -> int:
        return len(self._members)

    def add(self, hashes: np.ndarray) -> np.ndarray:
        """Add the hashes and return a mask of those seen before, earlier in `hashes` included."""
        hashes = np.asarray(hashes, dtype=np.uint64)
        seen_in_batch = pd.Series(hashes).duplicated(keep="first").to_numpy()
        seen_before = np.zeros(len(hashes), dtype=bool)
        if len(self._members):
            positions = np.searchsorted(self._members, hashes)
            inside = positions < len(self._members)
            seen_before[inside] = self._members[positions[inside]] == hashes[inside]
        seen = seen_in_batch | seen_before

        new = np.unique(hashes[~seen])
        if len(new):
            merged = np.concatenate([self._members, new])
            # Two sorted runs: the stable sort (timsort) merges them in linear time.
            merged.sort(kind="stable")
            self._members = merged
        return seen


class DuplicateRowFilter:
    """Finds rows whose values all equal those of a row seen earlier, in any chunk or file."""

    def __init__(self) -> None:
        self._hashes = HashSet64()

    def mark_duplicates(self, frame: pd.DataFrame) -> np.ndarray:
        """Return a mask of the rows that repeat an earlier row, and remember the others."""
        # Columns are hashed in name order, and the set of names is part of the hash, so files
        # that list the same columns in another order still compare equal.
        names = sorted(frame.columns)
        layout = hashlib.blake2b("\x1f".join(names).encode("utf-8"), digest_size=8).digest()
        row_hashes = pd.util.hash_pandas_object(frame[names], index=False).to_numpy(dtype=np.uint64)
        return self._hashes.add(row_hashes ^ np.frombuffer(layout, dtype=np.uint64)[0])


def hash_strings(values: pd.Series) -> np.ndarray:
    """Return a 64-bit hash of every string, for a HashSet64 of keys such as user ids."""
    return pd.util.hash_pandas_object(values.astype(object), index=False).to_numpy(dtype=np.uint64)

"""Types of the C module `_shadowjoin.c` (the shadow worker's per-copy work; its header says what each does)."""

# (kind, endpoint, revision, head, start, stop, copies) per run of copies; (kind, endpoint, revision, b"", start,
# stop, skipped) per tally; and how many bytes the complete records take.
def runs(data: bytes, /) -> tuple[list[tuple[int, str, str, bytes, int, int, int]], int]: ...

# calls: (rows joined, first record, stop, rows, members); others: offsets of the records left to Python.
def plan_v1(data: bytes, start: int, stop: int, max_rows: int, max_member: int, max_bytes: int, /) -> tuple[
    list[tuple[bytes, int, int, int, int]], list[int]]: ...

# (agree, disagree, [(record offset, first row, rows) per copy left to Python]), or None when `predictions` does
# not have `rows` elements.
def compare_v1(data: bytes, first: int, stop: int, max_member: int, predictions: bytes, rows: int,
               relative: float, absolute: float, /) -> tuple[int, int, list[tuple[int, int, int]]] | None: ...

# The offsets of the copies a call of plan_v1 joined, in data[first:stop].
def members_v1(data: bytes, first: int, stop: int, max_member: int, /) -> list[int]: ...

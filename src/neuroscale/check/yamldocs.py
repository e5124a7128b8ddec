"""Parse one file's bytes into `Document`s, safely and with line numbers.

Hostile or broken input must end as a finding, never as a hang, a memory blow-up
or a traceback: binary content, invalid UTF-8, YAML syntax errors (with the
line), nesting deep enough to exhaust recursion, and alias bombs. Every parsed
document passes the same shape guard as every other YAML reader
(`neuroscale.yamlio.shape_problem`); only the parsing is this module's own.

Hot path: yaml-rs (Rust) parses plain YAML ~20x faster than ruamel's C safe
loader (a 2 MB CRD in ~0.04 s instead of ~0.7 s); ruamel stays the authority.
It parses whatever yaml-rs would read differently (tags, merge keys, `...`
document ends) and whatever yaml-rs rejects, so every error carries ruamel's
message and line mark.
"""

from __future__ import annotations

import hashlib
import marshal
import re
import sys
from pathlib import Path
from typing import Any

import yaml_rs
from ruamel.yaml import YAML
from ruamel.yaml.error import YAMLError

from neuroscale.atomic_file import replace_file
from neuroscale.check.model import Document, Limits
from neuroscale.findings import Finding, Severity
from neuroscale.yamlio import SHAPE_FIX, shape_problem, too_deep

_LOADER = YAML(typ="safe")
#: What yaml-rs ignores or reads differently: a tag, anchor or alias where a node starts (ruamel shares
#: aliased nodes, which the alias-bomb guard relies on), a merge key, a `...` document end. A `[` or `{`
#: opens a flow collection only where a node starts (after a line start, blank, `[`, `{`, `,` or `:`):
#: `.spec.containers[*].name` in a plain scalar is text, and upstream CRDs (Kyverno's, KServe's serving
#: runtimes) are full of it in descriptions and `jsonPath`s — ruamel parses those ~15x slower.
_ITEM_INDENT = re.compile(r"[ \t]*(?:-[ \t]+)*")
_INDICATOR = re.compile(r"[!&*]")


def _starts_node(text: str, at: int) -> bool:
    """Whether the `!`, `&` or `*` at `at` may start a node: after only indentation and `- ` on its line, after
    `: `, or after a `,`, or after a `[` or `{` that itself follows a line start, blank, `[`, `{`, `,` or `:`."""
    line = text.rfind("\n", 0, at) + 1
    if _ITEM_INDENT.fullmatch(text, line, at):
        return True
    end = at
    while end > line and text[end - 1] in " \t":
        end -= 1
    before = text[end - 1] if end > line else ""
    if before == ":":
        return end < at
    if before in ("[", "{"):
        return end - 1 == line or text[end - 2].isspace() or text[end - 2] in "[{,:"
    return before == ","


def needs_full_loader(text: str) -> bool:
    r"""Whether ruamel must parse `text`: a node-starting tag, anchor or alias, a merge key, a `...` end.

    Hand-written: the same test as one multiline regex (`(?:^[ \t]*(?:-[ \t]+)*|:[ \t]+|…)[!&*]|<<|^\.\.\.…`,
    kept in tests/check/test_yaml_fast_path.py as the reference) tried at every position costs ~0.4 s over the
    upstream CRDs of a cold run; here only the `!`, `&`, `*` and `...` that occur are looked at.
    """
    if "<<" in text:
        return True
    return any(_starts_node(text, found.start()) for found in _INDICATOR.finditer(text)) or bool(
        _marker_lines(text, "..."))


#: `&` followed by what can start an anchor's name; `has_anchor` checks what precedes it.
_AMPERSAND = re.compile(r"&[^\s\[\]{},]")
_BEFORE_ANCHOR = frozenset("[{,:")


def has_anchor(text: str) -> bool:
    """Is there an anchor property (`&name`) where YAML allows one: at the start, after whitespace or a flow
    indicator? Searched from the `&` (a literal-led pattern the regex engine scans for quickly): the same
    search led by the alternation took 0.33 s over the large CRDs of a 1,000-object repository."""
    for found in _AMPERSAND.finditer(text):
        at = found.start()
        if at == 0 or text[at - 1].isspace() or text[at - 1] in _BEFORE_ANCHOR:
            return True
    return False
_DOCUMENT_START = re.compile(r"^---(?:\s|$)", re.MULTILINE)

CACHE_MIN_BYTES = 128 * 1024
RULE_PARSE = "NS-P001"
RULE_BINARY = "NS-P002"
RULE_ALIAS_BOMB = "NS-P003"


def _error(path: str, rule: str, message: str, fix: str, line: int | None = None) -> Finding:
    return Finding(rule=rule, severity=Severity.ERROR, message=message, fix=fix, file=path, line=line)


def decode(path: str, raw: bytes) -> tuple[str | None, Finding | None]:
    """The file as text, or a finding saying why it is not text."""
    if b"\x00" in raw:
        return None, _error(path, RULE_BINARY, "binary content in a YAML file (NUL bytes)",
                            "remove the file or give it a non-YAML extension")
    try:
        return raw.decode("utf-8-sig"), None
    except UnicodeDecodeError as exc:
        line = raw[: exc.start].count(b"\n") + 1
        return None, _error(path, RULE_BINARY, f"not valid UTF-8 at byte {exc.start}",
                            "save the file as UTF-8 text", line)


#: A line as `str.splitlines` cuts them; matched lazily, so a 2 MB CRD without a leading `---` is not split
#: into 50,000 strings to find that its first line is content (~0.1 s of a 1,000-object run).
_LINE = re.compile("[^\n\r\x0b\x0c\x1c\x1d\x1e\x85\u2028\u2029]+")


def _marker_lines(text: str, marker: str) -> list[int]:
    r"""Where a line starts with `marker` then whitespace or the end (`^---(?:\s|$)`, multiline), found with
    `str.find`: that regex tries every position of a 2 MB CRD (~30 ms of a 1,000-object run for the large CRDs)."""
    candidates = [0] if text.startswith(marker) else []
    position = text.find("\n" + marker)
    while position >= 0:
        candidates.append(position + 1)
        position = text.find("\n" + marker, position + 1)
    end = len(marker)
    return [at for at in candidates if at + end == len(text) or text[at + end].isspace()]


def _start_lines(text: str, count: int) -> list[int]:
    """1-based first line of each of `count` documents, found from `---` separators."""
    separators = _marker_lines(text, "---")
    starts, line, counted = [], 1, 0
    for start in separators:
        line += text.count("\n", counted, start)
        counted = start
        starts.append(line)
    head = text[: separators[0]] if separators else text
    if not starts or any((ln := m.group()).strip() and not ln.lstrip().startswith(("#", "%"))
                         for m in _LINE.finditer(head)):
        starts = [1, *starts]  # content before the first separator is a document of its own
    return starts[:count] + [starts[-1]] * max(0, count - len(starts))


def _cache_entry(raw: bytes, cache_dir: Path | None, limits: Limits) -> Path | None:
    """Where the parsed form of a big file is cached (None: not cached); keyed by the limits it passed."""
    if cache_dir is None or len(raw) < CACHE_MIN_BYTES:
        return None
    passed = f"{limits.max_depth}-{limits.max_expanded_nodes}"
    return cache_dir / f"yaml-{hashlib.sha256(raw).hexdigest()[:32]}-{passed}.{sys.implementation.cache_tag}.bin"


def _cached(entry: Path | None) -> list[Any] | None:
    """Documents parsed (and found safe) by an earlier run, or None.

    Measured hot path: the InferenceService CRD alone takes ~0.5 s to parse,
    a quarter of the time budget for checking 1,000 manifests.
    """
    if entry is None or not entry.exists():
        return None
    try:
        cached = marshal.loads(entry.read_bytes())
    except (EOFError, ValueError, TypeError):
        return None  # unreadable cache entry: parse again and overwrite it
    return cached if isinstance(cached, list) else None


def _store(entry: Path, loaded: list[Any]) -> None:
    try:
        data = marshal.dumps(loaded)
    except ValueError:
        return  # timestamps and other non-plain values: not cacheable, still correct
    replace_file(entry, data)


def _load_all(text: str) -> list[Any]:
    """Every document of `text`, as plain data: yaml-rs when it reads the text as ruamel would, else ruamel."""
    if not needs_full_loader(text):
        try:
            return _fast_documents(text)
        except (yaml_rs.YAMLDecodeError, ValueError, RecursionError):
            pass  # ruamel decides, and explains
    return list(_LOADER.load_all(text))


def _fast_documents(text: str) -> list[Any]:
    """One yaml-rs call per document (it returns a list both for several documents and for one sequence)."""
    starts = _marker_lines(text, "---")  # `_DOCUMENT_START` everywhere, without trying every position
    bounds = starts if starts and starts[0] == 0 else [0, *starts]
    chunks = [text[a:b] for a, b in zip(bounds, [*bounds[1:], len(text)])]
    documents = [yaml_rs.loads(chunk) for chunk in chunks]
    if documents and documents[0] is None and not _DOCUMENT_START.match(chunks[0]):
        documents = documents[1:]  # blank or comment-only text before any `---` is not a document
    return documents


def parse_file(path: str, raw: bytes, *, limits: Limits,
               cache_dir: Path | None = None) -> tuple[list[Document], list[Finding]]:
    """Documents of one YAML file, or findings explaining why it could not be read."""
    text, problem = decode(path, raw)
    if text is None:
        return [], [problem] if problem else []
    entry = _cache_entry(raw, cache_dir, limits)
    cached = _cached(entry)  # stored only after these very bytes passed the same limits
    if cached is None and too_deep(text, max_depth=limits.max_depth):
        return [], [_error(path, RULE_ALIAS_BOMB, f"YAML is nested more than {limits.max_depth} levels deep; "
                                                  "rejected before parsing", SHAPE_FIX)]
    try:
        loaded = cached if cached is not None else _load_all(text)
    except YAMLError as exc:
        mark = getattr(exc, "problem_mark", None) or getattr(exc, "context_mark", None)
        problem_text = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        hint = " (it looks like a template: render it first)" if "{{" in text else ""
        return [], [_error(path, RULE_PARSE, f"YAML does not parse: {problem_text}{hint}",
                           "fix the YAML syntax at the line shown", mark.line + 1 if mark else None)]
    except RecursionError:
        return [], [_error(path, RULE_PARSE, "YAML nesting is too deep to parse",
                           "flatten the document")]
    starts = _start_lines(text, len(loaded))
    total_lines = text.count("\n") + 1
    documents: list[Document] = []
    findings: list[Finding] = []
    # Depth is bounded above; only aliases can still blow up, and an alias needs an anchor (a CRD's
    # descriptions are full of `*` but hold no anchor: walking its ~170,000 nodes cost ~0.25 s cold).
    walk = cached is None and "*" in text and has_anchor(text)
    for index, data in enumerate(loaded):
        line = starts[index]
        end = starts[index + 1] - 1 if index + 1 < len(starts) and starts[index + 1] > line else total_lines
        if data is None:
            continue
        bomb = shape_problem(data, limits=limits.yaml) if walk else ""
        if bomb:
            findings.append(_error(path, RULE_ALIAS_BOMB, bomb, SHAPE_FIX, line))
            continue
        documents.append(Document(path=path, index=index, line=line, end_line=end, data=data))
    if entry is not None and cached is None and not findings:
        _store(entry, loaded)  # only documents that passed the shape checks are ever cached
    return documents, findings

"""Load scenario and schedule files: TOML text -> validated, frozen data.

Every problem is reported as a `ScenarioError` naming the file, the line and
the key path (`thread[1].ops[2]`), and saying what was expected and what was
found. The format itself is described in scenarios/README.md.
"""

from __future__ import annotations

import os
import re
import unicodedata
from collections.abc import Collection, Iterable, Sequence
from pathlib import Path
from typing import Any

import attrs

from spftui.scenario import syntax
from spftui.scenario.document import (
    ARRAY,
    BOOLEAN,
    INTEGER,
    STRING,
    TABLE,
    Document,
    Table,
    describe,
)
from spftui.scenario.errors import ScenarioError
from spftui.scenario.files import MAX_SCHEDULE_BYTES, bundled_scenarios_dir, read_text
from spftui.scenario.fixes import FIX, FIXES, preset_lacks
from spftui.scenario.locate import KeyPath, format_key
from spftui.scenario.model import (
    ANY_POLICY,
    BREAKPOINT_KINDS,
    BREAKPOINT_MATCHES,
    EXPECT_VALUES,
    FIXES_OFF,
    KERNEL_PRESET,
    KERNEL_PRESETS,
    MAX_PROCESSES,
    MAX_SETUP_PAGES,
    MAX_STEPS,
    MAX_THREADS,
    ORACLE_KINDS,
    PAGE_SIZE,
    POLICIES,
    PROTS,
    REUSE_RULES,
    BreakpointSpec,
    ExpectTable,
    File,
    KernelPreset,
    Mapping,
    Op,
    OracleSpec,
    Process,
    Scenario,
    ScheduleEntry,
    ScheduleFile,
    Thread,
)
from spftui.scenario.syntax import (
    Invalid,
    check_addr,
    check_count,
    check_mapping_length,
    check_name,
    check_range,
    check_word,
    one_of,
    parse_int,
)

_TOP_KEYS = (
    "title", "description", "policy", "reuse", "kernel", "words_per_page", "seed",
    "process", "thread", "schedule", "expect", "fixes", "file", "breakpoint", "oracle",
)  # fmt: skip
_ORACLE_KEYS = ("name", "when", "detail")
_ORACLE_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_BREAKPOINT_KEYS = ("kind", "match", "thread", "expr", "watch", "when", "condition", "enabled")
_FILE_KEYS = ("name", "pages", "data")
_PROCESS_KEYS = ("name", "fork_of", "mapping", "data")
_MAPPING_KEYS = ("start", "pages", "length", "prot", "populate", "file", "uffd_wp", "growsdown")
_THREAD_KEYS = ("name", "process", "ops", "repeat")
_SCHEDULE_KEYS = ("steps",)
_SCHEDULE_FILE_KEYS = ("scenario", "scenario_name", "scenario_hash", "policy", "reuse", "fixes_off", "stop_at", "steps")
_WORDS_PER_PAGE = tuple(1 << n for n in range(7))  # each must divide PAGE_SIZE


# --- scenario -------------------------------------------------------------


def load_scenario(path: str | os.PathLike[str], *, known_labels: Collection[str] | None = None) -> Scenario:
    """Read and validate a scenario file; see `parse_scenario`."""
    return parse_scenario(read_text(path), os.fsdecode(path), known_labels=known_labels)


def _plain_text(doc: Document, key: str, text: str, allowed: str) -> None:
    """Refuse control characters (but `allowed`): the title is printed on one line, and an
    escape sequence in either would reach the user's terminal as a command."""
    for ch in text:
        if unicodedata.category(ch)[0] == "C" and ch not in allowed:
            what = "one line of text" if key == "title" else "text"
            raise doc.error((key,), f"expected {what}, found the control character U+{ord(ch):04X}")


def parse_scenario(text: str, path: str = "<string>", *, known_labels: Collection[str] | None = None) -> Scenario:
    """Validate scenario TOML text. With `known_labels`, `until` labels must be among them."""
    doc = Document(text, path)
    top = doc.data
    doc.only(top, (), _TOP_KEYS)
    title = doc.get(top, (), "title", STRING)
    if not title.strip():
        raise doc.error(("title",), "expected a non-empty title, found an empty string")
    _plain_text(doc, "title", title, "")
    kernel = _kernel(doc, top)
    preset = KERNEL_PRESET[kernel] if kernel else None
    reuse_default = preset.reuse if preset else str(attrs.fields(Scenario).reuse.default)
    policy = doc.choice(top, (), "policy", "policy", POLICIES, preset.policy if preset else "classic")
    reuse = doc.choice(top, (), "reuse", "COW reuse rule", REUSE_RULES, reuse_default)
    words_per_page = doc.get(top, (), "words_per_page", INTEGER, 4)
    if words_per_page not in _WORDS_PER_PAGE:
        raise doc.error(
            ("words_per_page",),
            f"expected a power of two from 1 to 64, found {words_per_page}",
        )
    seed = doc.get(top, (), "seed", INTEGER, 0)
    if seed < 0:
        raise doc.error(("seed",), f"expected a seed of 0 or more (as --seed takes), found {seed}")
    description = doc.get(top, (), "description", STRING, "").strip()
    _plain_text(doc, "description", description, "\n\t")
    files = _files(doc, top, words_per_page)
    processes = _processes(doc, top, {f.name: f for f in files}, words_per_page, preset)
    threads = _threads(doc, top, processes)
    schedule = None
    if "schedule" in top:
        table = doc.table(("schedule",), top["schedule"], _SCHEDULE_KEYS)
        schedule = _steps(doc, table, ("schedule",), [t.name for t in threads], known_labels)
        if not schedule:  # (it would be the scenario's own schedule: round-robin, judged as if chosen)
            raise doc.error(
                ("schedule", "steps"), "expected at least one step, found none (leave [schedule] out for round-robin)"
            )
    oracles = _oracles(doc, top)
    kinds = (*ORACLE_KINDS, *(o.name for o in oracles))
    expect = _expect(doc, top, policy, reuse, kinds)
    lacks = preset_lacks(kernel, threads, any(mp.growsdown for p in processes for mp in p.mappings))
    fixes_off = _fixes(doc, top, lacks)
    breakpoints = _breakpoints(doc, top, [t.name for t in threads], known_labels, kinds)
    return Scenario(
        title=title,
        description=description,
        policy=policy,
        reuse=reuse,
        kernel=kernel,
        words_per_page=words_per_page,
        processes=processes,
        threads=threads,
        schedule=schedule,
        expect=expect,
        seed=seed,
        path=path,
        fixes_off=fixes_off,
        files=files,
        breakpoints=breakpoints,
        fixes_as_written=fixes_off,
        oracles=oracles,
    )


def _oracles(doc: Document, top: Table) -> tuple[OracleSpec, ...]:
    """`[[oracle]]`: name (a word, not a built-in oracle's, unique), when = EXPR, detail.
    The expressions are checked by the engine (engine/user_oracles.py), at their line."""
    out: list[OracleSpec] = []
    seen: dict[str, int] = {}
    for where, table in doc.array_of_tables(top, (), "oracle", _ORACLE_KEYS):
        for key in ("name", "when"):
            if key not in table:
                example = 'name = "old_value_read"' if key == "name" else "when = \"A2.result == 'read 0x10400 0'\""
                raise doc.error((*where, key), f"missing required key '{key}' ({example})")
        name = doc.get(table, where, "name", STRING)
        if not _ORACLE_NAME.fullmatch(name):
            raise doc.error(
                (*where, "name"),
                f"expected an oracle name (a letter or '_', then letters, digits, '_'), found '{name}'",
            )
        if name in ORACLE_KINDS:
            raise doc.error(
                (*where, "name"), f"'{name}' is a built-in oracle (built in: {', '.join(ORACLE_KINDS)}); choose another"
            )
        if name in seen:
            raise doc.error((*where, "name"), f"an oracle named '{name}' is declared already (oracle[{seen[name]}])")
        seen[name] = len(out)
        when = doc.get(table, where, "when", STRING).strip()
        if not when:
            raise doc.error((*where, "when"), "expected an expression, found an empty string")
        detail = doc.get(table, where, "detail", STRING, "").strip()
        for ch in detail:
            if unicodedata.category(ch)[0] == "C":
                raise doc.error(
                    (*where, "detail"), f"expected one line of text, found the control character U+{ord(ch):04X}"
                )
        out.append(OracleSpec(name, when, detail, format_key(where), doc.line(where), doc.line((*where, "when"))))
    return tuple(out)


MAX_FILE_PAGES = 1 << 10
"""Pages in one `[[file]]`: every one is in the page cache from the start."""


def _files(doc: Document, top: Table, words_per_page: int) -> tuple[File, ...]:
    """`[[file]]`: name, pages, data = { "OFFSET" = VALUE } (byte offsets in the file)."""
    out: list[File] = []
    seen: dict[str, KeyPath] = {}
    for where, table in doc.array_of_tables(top, (), "file", _FILE_KEYS):
        name = _name(doc, table, where, "file", seen)
        pages = doc.get(table, where, "pages", INTEGER)
        if not 1 <= pages <= MAX_FILE_PAGES:
            raise doc.error((*where, "pages"), f"expected 1 to {MAX_FILE_PAGES} pages, found {pages}")
        data: dict[int, int] = {}
        dwhere = (*where, "data")
        slots: dict[tuple[int, int], int] = {}
        for key, value in doc.check(dwhere, table.get("data", {}), TABLE).items():
            with doc.at((*dwhere, key)):
                off = parse_int(key, "a byte offset in the file")
                if off >= pages * PAGE_SIZE:
                    raise Invalid(
                        f"offset {off:#x} lies beyond the file's {pages} page(s) ({pages * PAGE_SIZE:#x} bytes)"
                    )
                if off in data:
                    raise Invalid(f"offset {off:#x} is given twice")
                _own_word(off, "offset", slots, words_per_page)
            data[off] = _word(doc, (*dwhere, key), value)
        out.append(File(name, pages, tuple(data.items()), doc.line(where)))
    return tuple(out)


_THREADED = ("abort", "aba", "step")  # the kinds a thread narrows (as in the TUI's `B` dialog)
_SHORT = {"watch": "watch", "when": "condition"}  # `watch = EXPR` is kind = "watch", expr = EXPR


def _breakpoints(
    doc: Document,
    top: Table,
    threads: Sequence[str],
    known_labels: Collection[str] | None,
    kinds: Sequence[str] = ORACLE_KINDS,
) -> tuple[BreakpointSpec, ...]:
    """`[[breakpoint]]`: the keys of a session file's breakpoints (kind, match, thread, expr,
    condition, enabled), plus `watch = EXPR` and `when = EXPR` for the two expression kinds.
    Expressions are checked by the engine (engine/scenario_breakpoints.py), at their line."""
    out: list[BreakpointSpec] = []
    for where, table in doc.array_of_tables(top, (), "breakpoint", _BREAKPOINT_KEYS):
        short = [k for k in _SHORT if k in table]
        if len(short) > 1 or (short and ("kind" in table or "expr" in table)):
            clash = [k for k in ("kind", "expr", *_SHORT) if k in table]
            raise doc.error(
                (*where, short[-1]),
                f"give one of: kind (with expr), watch = EXPR, when = EXPR; found {', '.join(clash)}",
            )
        if short:
            kind, expr_key = _SHORT[short[0]], short[0]
        else:
            if "kind" not in table:
                raise doc.error(
                    (*where, "kind"),
                    f"missing required key 'kind' (one of: {', '.join(BREAKPOINT_KINDS)}), or watch = / when = EXPR",
                )
            kind, expr_key = doc.choice(table, where, "kind", "breakpoint kind", BREAKPOINT_KINDS, ""), "expr"
        match = doc.get(table, where, "match", STRING, "")
        if match and kind in BREAKPOINT_MATCHES:
            with doc.at((*where, "match")):
                one_of(
                    BREAKPOINT_MATCHES[kind][0], match, kinds if kind == "violation" else BREAKPOINT_MATCHES[kind][1]
                )
        elif kind == "step":
            if not match:
                raise doc.error((*where, "match"), "a step breakpoint needs match = LABEL (e.g. wp_page_copy:copy)")
            if known_labels is not None:
                with doc.at((*where, "match")):
                    one_of("step label", match, sorted(known_labels))
        elif match:
            raise doc.error(
                (*where, "match"), f"a {kind} breakpoint takes no match (its expression says what to stop on)"
            )
        thread = doc.get(table, where, "thread", STRING, "")
        if thread:  # ("" is any thread, as in a session file)
            if kind not in _THREADED:
                raise doc.error(
                    (*where, "thread"),
                    f"a {kind} breakpoint takes no thread (only {', '.join(_THREADED)} do); "
                    f"name the thread in the expression instead",
                )
            with doc.at((*where, "thread")):
                one_of("thread", thread, threads)
        expr = doc.get(table, where, expr_key, STRING, "") if expr_key in table else ""
        if kind in _SHORT.values():
            if not expr.strip():
                raise doc.error((*where, expr_key), f"a {kind} breakpoint needs an expression, e.g. A.pte[0x10000]")
        elif "expr" in table:
            article = "an" if kind[0] in "aeiou" else "a"
            raise doc.error(
                (*where, "expr"), f"{article} {kind} breakpoint takes no expr (only watch and condition do)"
            )
        condition = doc.get(table, where, "condition", STRING, "")
        if "condition" in table and not condition.strip():
            raise doc.error((*where, "condition"), "expected an expression, found an empty string")
        out.append(
            BreakpointSpec(
                kind,
                match,
                thread,
                expr.strip(),
                condition.strip(),
                doc.get(table, where, "enabled", BOOLEAN, True),
                format_key(where),
                doc.line(where),
                format_key((*where, expr_key)),
                doc.line((*where, expr_key)) if expr_key in table else 0,
                doc.line((*where, "condition")) if "condition" in table else 0,
            )
        )
    return tuple(out)


def _fixes(doc: Document, top: Table, preset: frozenset[str]) -> frozenset[str]:
    """`[fixes]`: NAME = false takes a modelled fix out (scenario/fixes.py), NAME = true
    puts back one the kernel preset lacks."""
    if "fixes" not in top:
        return preset
    table = doc.table(("fixes",), top["fixes"], FIXES)
    off = set(preset)
    for name in table:
        (off.add if not doc.get(table, ("fixes",), name, BOOLEAN) else off.discard)(name)
    return frozenset(off)


def _kernel(doc: Document, top: Table) -> str | None:
    if "kernel" not in top:
        return None
    value = top["kernel"]
    if isinstance(value, int | float) and not isinstance(value, bool):
        raise doc.error(("kernel",), f'expected a string, found {describe(value)}; quote it: kernel = "{value}"')
    with doc.at(("kernel",)):
        return one_of("kernel release", doc.check(("kernel",), value, STRING), list(KERNEL_PRESETS))


def _name(doc: Document, table: Table, where: KeyPath, what: str, seen: dict[str, KeyPath]) -> str:
    """The table's `name`, checked for syntax and uniqueness among `seen` (which it joins)."""
    name = doc.get(table, where, "name", STRING)
    with doc.at((*where, "name")):
        check_name(name, what)
    if name in seen:
        raise doc.error(
            (*where, "name"),
            f"duplicate {what} name '{name}' (first declared on line {doc.line(seen[name])})",
        )
    seen[name] = where
    return name


def _processes(
    doc: Document, top: Table, files: dict[str, File], words_per_page: int, preset: KernelPreset | None = None
) -> tuple[Process, ...]:
    out: list[Process] = []
    seen: dict[str, KeyPath] = {}
    # Each process's mappings including inherited ones, with the owner's name.
    mapped: dict[str, list[tuple[Mapping, str]]] = {}
    present: dict[str, int] = {}  # pages present at setup in each process, inherited ones included
    data_pages: dict[str, set[int]] = {}
    tables = doc.array_of_tables(top, (), "process", _PROCESS_KEYS)
    if len(tables) > MAX_PROCESSES:
        raise doc.error(("process", MAX_PROCESSES), f"too many processes: {len(tables)} (at most {MAX_PROCESSES})")
    for where, table in tables:
        name = _name(doc, table, where, "process", seen)
        fork_of = doc.get(table, where, "fork_of", STRING) if "fork_of" in table else None
        if fork_of is not None and fork_of not in mapped:
            later = [w for w, t in tables if t.get("name") == fork_of]
            with doc.at((*where, "fork_of")):
                if fork_of == name:
                    raise Invalid(f"process '{name}' cannot be forked from itself")
                if later:
                    raise Invalid(
                        f"'fork_of' must name an earlier process; '{fork_of}' is declared on line {doc.line(later[0])}"
                    )
                one_of("process", fork_of, list(mapped))
        maps = list(mapped[fork_of]) if fork_of else []
        pages = present[fork_of] if fork_of else 0
        own: list[Mapping] = []
        for mwhere, mtable in doc.array_of_tables(table, where, "mapping", _MAPPING_KEYS):
            mapping = _mapping(doc, mtable, mwhere, files, preset)
            for other, owner in maps:
                if mapping.start < other.start + other.length and other.start < mapping.start + mapping.length:
                    origin = f"inherited from '{owner}', " if owner != name else ""
                    raise doc.error(
                        (*mwhere, "start"),
                        f"mapping {_span(mapping)} overlaps mapping {_span(other)} ({origin}line {other.line})",
                    )
            own.append(mapping)
            maps.append((mapping, name))
            if mapping.populate:
                pages += mapping.length // PAGE_SIZE
                _setup_pages(doc, (*mwhere, "populate"), sum(present.values()) + pages)
        mapped[name] = maps
        data = _data(doc, table, where, name, [m for m, _ in maps], words_per_page)
        # A data word on a page not yet present makes it present.
        populated = [m for m, _ in maps if m.populate]
        data_pages[name] = set(data_pages[fork_of]) if fork_of else set()
        for addr, _ in data:
            vpn = addr // PAGE_SIZE
            if vpn not in data_pages[name] and not any(m.start <= addr < m.start + m.length for m in populated):
                pages += 1
            data_pages[name].add(vpn)
        # blame what brought the pages: its data words, else the fork that copied its parent's
        blamed = "data" if "data" in table or not fork_of else "fork_of"
        _setup_pages(doc, (*where, blamed), sum(present.values()) + pages)
        present[name] = pages
        out.append(Process(name, tuple(own), data, fork_of, doc.line(where)))
    return tuple(out)


def _setup_pages(doc: Document, where: KeyPath, total: int) -> None:
    if total > MAX_SETUP_PAGES:
        raise doc.error(
            where, f"too many pages present at setup: {total:,} in all processes (at most {MAX_SETUP_PAGES:,})"
        )


def _span(mapping: Mapping) -> str:
    return f"{mapping.start:#x}-{mapping.start + mapping.length:#x}"


def _mapping(
    doc: Document, table: Table, where: KeyPath, files: dict[str, File], preset: KernelPreset | None = None
) -> Mapping:
    start = doc.get(table, where, "start", INTEGER)
    with doc.at((*where, "start")):
        check_addr(start, "mapping start", aligned=True)
    if ("pages" in table) == ("length" in table):
        found = "both" if "pages" in table else "neither"
        raise doc.error((*where, "length"), f"expected exactly one of 'pages' or 'length', found {found}")
    size_key = "pages" if "pages" in table else "length"
    size = doc.get(table, where, size_key, INTEGER)
    if size_key == "pages" and size < 1:
        raise doc.error((*where, "pages"), f"expected at least 1 page, found {size}")
    length = size * PAGE_SIZE if size_key == "pages" else size
    with doc.at((*where, size_key)):
        check_range(start, length)
        check_mapping_length(length)
    populate = doc.get(table, where, "populate", BOOLEAN, False)
    file = ""
    if "file" in table:
        file = doc.get(table, where, "file", STRING)
        with doc.at((*where, "file")):
            f = files.get(one_of("file", file, list(files)))
            assert f is not None
            if length > f.pages * PAGE_SIZE:
                raise Invalid(
                    f"mapping of {length // PAGE_SIZE} page(s) is longer than file '{file}' ({f.pages} page(s)): "
                    "an access past the end would be SIGBUS, which is not modelled"
                )
        if populate:
            raise doc.error(
                (*where, "populate"), "'populate' is for anonymous mappings; a file mapping faults its pages in"
            )
    uffd_wp = doc.get(table, where, "uffd_wp", BOOLEAN, False)
    if uffd_wp and file:
        raise doc.error(
            (*where, "uffd_wp"),
            "'uffd_wp' is for anonymous mappings: uffd-wp on file memory (shmem) came in 5.19 and is not modelled",
        )
    growsdown = doc.get(table, where, "growsdown", BOOLEAN, False)
    if growsdown and file:
        raise doc.error(
            (*where, "growsdown"),
            "'growsdown' is for anonymous mappings: a stack (MAP_GROWSDOWN) of a file is not modelled",
        )
    if growsdown and preset is not None and not preset.maple_tree:
        raise doc.error(
            (*where, "growsdown"),
            f'stacks are modelled with the maple tree (kernel 6.1 and later): kernel = "{preset.name}" keeps '
            "its VMAs in an rbtree, whose find_vma_prev and stack expansion are not modelled",
        )
    return Mapping(
        start=start,
        length=length,
        prot=doc.choice(table, where, "prot", "protection", PROTS, "rw"),
        populate=populate,
        line=doc.line(where),
        file=file,
        uffd_wp=uffd_wp,
        growsdown=growsdown,
    )


def _data(
    doc: Document, table: Table, where: KeyPath, process: str, maps: list[Mapping], words_per_page: int
) -> tuple[tuple[int, int], ...]:
    where += ("data",)
    words = doc.check(where, table.get("data", {}), TABLE)
    out: dict[int, int] = {}
    slots: dict[tuple[int, int], int] = {}
    for key, value in words.items():
        with doc.at((*where, key)):
            addr = check_addr(parse_int(key, "a word address"), "word address", aligned=False)
            if addr in out:
                raise Invalid(f"address {addr:#x} is given twice")
            if not any(m.start <= addr < m.start + m.length for m in maps):
                spans = ", ".join(_span(m) for m in maps) or "none"
                raise Invalid(f"address {addr:#x} is outside every mapping of process '{process}' (mappings: {spans})")
            _own_word(addr, "address", slots, words_per_page)
        out[addr] = _word(doc, (*where, key), value)
    return tuple(out.items())


def _word(doc: Document, where: KeyPath, value: object) -> int:
    """A `data` value: an integer a page word can hold."""
    n = doc.check(where, value, INTEGER)
    with doc.at(where):
        return check_word(n)


def _own_word(addr: int, what: str, slots: dict[tuple[int, int], int], words_per_page: int) -> None:
    """Each `data` key must name a word of its own: of two in one word only the last would be kept."""
    size = PAGE_SIZE // words_per_page
    first = slots.setdefault((addr // PAGE_SIZE, addr % PAGE_SIZE // size), addr)
    if first == addr:
        return
    low = addr - addr % size
    raise Invalid(
        f"{what} {addr:#x} is in the same data word as {first:#x}: with words_per_page = {words_per_page} a word "
        f"is {size:#x} bytes ({low:#x}-{low + size - 1:#x}); give one of them, or raise words_per_page"
    )


def _threads(doc: Document, top: Table, processes: Sequence[Process]) -> tuple[Thread, ...]:
    declared = {p.name: p for p in processes}
    children: dict[str, tuple[KeyPath, str]] = {}  # fork child -> (its op, the forking thread)
    seen: dict[str, KeyPath] = {}
    threads: list[Thread] = []
    tables = doc.array_of_tables(top, (), "thread", _THREAD_KEYS)
    if not tables:
        raise doc.error(("thread",), "expected at least one [[thread]] table, found none")
    if len(tables) > MAX_THREADS:
        raise doc.error(("thread", MAX_THREADS), f"too many threads: {len(tables)} (at most {MAX_THREADS})")
    for where, table in tables:
        name = _name(doc, table, where, "thread", seen)
        process = doc.get(table, where, "process", STRING)
        repeat = doc.get(table, where, "repeat", INTEGER, 1)
        with doc.at((*where, "repeat")):
            check_count(repeat, "repeat count")
        ops = _ops(doc, table, where)
        for i, op in enumerate(ops):
            if op.kind != "fork":
                continue
            at = (*where, "ops", i)
            if len(declared) + len(children) >= MAX_PROCESSES:
                raise doc.error(at, f"too many processes: fork child '{op.child}' would be the {MAX_PROCESSES + 1}th")
            if op.child in declared:
                raise doc.error(
                    at,
                    f"fork child '{op.child}' clashes with the process declared on line {declared[op.child].line}",
                )
            if op.child in children:
                first = children[op.child][0]
                raise doc.error(
                    at,
                    f"process '{op.child}' is already created by {format_key(first)} (line {doc.line(first)})",
                )
            if repeat > 1:
                raise doc.error(
                    at,
                    f"a thread that repeats ({repeat} times) cannot fork: it would create '{op.child}' again",
                )
            children[op.child] = (at, name)
        threads.append(Thread(name, process, ops, repeat, doc.line(where)))
    for where, thread in zip((w for w, _ in tables), threads, strict=False):
        with doc.at((*where, "process")):
            if thread.process in children and children[thread.process][1] == thread.name:
                raise Invalid(
                    f"thread '{thread.name}' cannot run in process '{thread.process}', which its own fork op creates"
                )
            if thread.process not in declared and thread.process not in children:
                one_of("process", thread.process, [*declared, *children])
    return tuple(threads)


def _ops(doc: Document, table: Table, where: KeyPath) -> tuple[Op, ...]:
    ops = doc.get(table, where, "ops", ARRAY)
    if not ops:
        raise doc.error((*where, "ops"), "expected at least one op, found an empty array")
    out: list[Op] = []
    for i, text in enumerate(ops):
        at = (*where, "ops", i)
        with doc.at(at):
            op = syntax.parse_op(doc.check(at, text, STRING))
        out.append(attrs.evolve(op, line=doc.line(at)))
    return tuple(out)


def check_digest(doc: Document, digest: str) -> None:
    """A `scenario_hash` as spftui writes it (a damaged one would read as another scenario's)."""
    if digest and not re.fullmatch(r"sha256:[0-9a-f]{64}", digest):
        raise doc.error(
            ("scenario_hash",), f"expected sha256: and 64 hex digits (as spftui writes it), found '{digest}'"
        )


def _steps(
    doc: Document,
    table: Table,
    where: KeyPath,
    threads: Collection[str] | None,
    known_labels: Collection[str] | None,
) -> tuple[ScheduleEntry, ...]:
    out: list[ScheduleEntry] = []
    steps: list[Any] = doc.get(table, where, "steps", ARRAY)
    seen: dict[str, ScheduleEntry] = {}  # a long schedule repeats a few entries many times
    for i, text in enumerate(steps):
        at = (*where, "steps", i)
        entry = seen.get(text) if type(text) is str else None
        if entry is None:
            with doc.at(at):
                entry = seen[text] = syntax.parse_entry(doc.check(at, text, STRING), threads, known_labels)
        out.append(attrs.evolve(entry, line=doc.line(at)))
    return tuple(out)


def _expect(
    doc: Document, top: Table, policy: str, reuse: str, kinds: Sequence[str] = ORACLE_KINDS
) -> tuple[ExpectTable, ...]:
    """The [expect] tables, each resolved to the (policy, reuse rule) it is about.

    `[expect]` is the file's own policy and rule; `[expect.POLICY]` is POLICY
    under the file's rule; `[expect.REUSE]` is every policy under REUSE;
    `[expect.POLICY.REUSE]` is POLICY under REUSE. Where two name the same
    run, the more specific wins: POLICY.REUSE, then POLICY, then [expect]."""
    where: KeyPath = ("expect",)
    table = doc.check(where, top.get("expect", {}), TABLE)
    if "expect" in top and not table:
        raise doc.error(where, 'expected ORACLE = "never" or "sometimes" lines, found an empty table')
    found: dict[tuple[str, str], ExpectTable] = {}
    rank: dict[tuple[str, str], int] = {}
    extra: list[ExpectTable] = []  # [expect.fixes_off.NAME]

    def add(key: tuple[str, str], pairs: tuple[tuple[str, str], ...], at: KeyPath, specific: int) -> None:
        if rank.get(key, -1) < specific:
            name = "[" + ".".join(str(k) for k in at) + "]"
            found[key] = ExpectTable(key[0], key[1], pairs, name)
            rank[key] = specific

    base = {k: v for k, v in table.items() if not isinstance(v, dict)}
    if base:
        add((policy, reuse), _expectations(doc, kinds, where, base), where, 0)
    for name, sub in table.items():
        if not isinstance(sub, dict):
            continue
        at = (*where, name)
        if not sub:
            raise doc.error(at, 'expected ORACLE = "never" or "sometimes" lines, found an empty table')
        if name == FIXES_OFF:
            extra.extend(_expect_fixes_off(doc, at, sub, policy, reuse, kinds))
            continue
        with doc.at(at):
            one_of("policy or COW reuse rule", name, (*POLICIES, *REUSE_RULES, FIXES_OFF))
        flat = {k: v for k, v in sub.items() if not isinstance(v, dict)}
        if name in REUSE_RULES:
            for inner, value in sub.items():
                if isinstance(value, dict):
                    raise doc.error(
                        (*at, inner),
                        f"a table inside [expect.{name}] (a reuse rule: every policy); "
                        f"write [expect.{inner}.{name}] for one policy under {name}",
                    )
            add((ANY_POLICY, name), _expectations(doc, kinds, at, flat), at, 0)
            continue
        if flat or len(flat) == len(sub):  # an empty [expect.POLICY] still replaces [expect]
            add((name, reuse), _expectations(doc, kinds, at, flat), at, 1)
        for rule, inner_table in sub.items():
            if not isinstance(inner_table, dict):
                continue
            inner_at = (*at, rule)
            with doc.at(inner_at):
                one_of("COW reuse rule", rule, REUSE_RULES)
            for kind, value in inner_table.items():
                if isinstance(value, dict):
                    raise doc.error((*inner_at, kind), 'expected an oracle = "sometimes" | "never", found a table')
            add((name, rule), _expectations(doc, kinds, inner_at, inner_table), inner_at, 2)
    return (*found.values(), *extra)


def _expect_fixes_off(
    doc: Document, where: KeyPath, table: Any, policy: str, reuse: str, kinds: Sequence[str]
) -> list[ExpectTable]:
    """`[expect.fixes_off.NAME]`: the file's own policy and rule, run with fix NAME off
    (by `[fixes]`, the kernel preset or `--fix NAME=off`); it wins over the other tables.

    A fix whose code runs only under other reuse rules (`Fix.reuse`: `gup_force_cow`
    under mapcount) changes nothing under the file's rule, so its table is about the
    file's policy under the fix's first rule (`--reuse mapcount --fix gup_force_cow=off`)."""
    table = doc.check(where, table, TABLE)
    out = []
    for name, sub in table.items():
        at = (*where, name)
        with doc.at(at):
            one_of("fix", name, FIXES)
        doc.check(at, sub, TABLE)
        for kind, value in sub.items():
            if isinstance(value, dict):
                raise doc.error((*at, kind), 'expected an oracle = "sometimes" | "never", found a table')
        label = "[" + ".".join(str(k) for k in at) + "]"
        rules = FIX[name].reuse
        rule = reuse if not rules or reuse in rules else rules[0]
        out.append(ExpectTable(policy, rule, _expectations(doc, kinds, at, sub), label, fix_off=name))
    return out


def _expectations(doc: Document, kinds: Sequence[str], where: KeyPath, table: Table) -> tuple[tuple[str, str], ...]:
    out: list[tuple[str, str]] = []
    for kind, value in table.items():
        at = (*where, kind)
        with doc.at(at):
            one_of("oracle", kind, kinds)
            out.append((kind, one_of("expectation", doc.check(at, value, STRING), EXPECT_VALUES)))
    return tuple(out)


# --- schedules and single strings -------------------------------------------


def parse_schedule(
    text: str,
    path: str = "<string>",
    *,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> tuple[ScheduleEntry, ...]:
    """A standalone schedule's entries; see `parse_schedule_meta` for the rest."""
    return parse_schedule_meta(text, path, threads=threads, known_labels=known_labels).entries


SCENARIO_KEYS = frozenset({"title", "process", "thread"})
"""Keys only a scenario has: a file with them and without `steps` is a scenario."""


def parse_schedule_meta(
    text: str,
    path: str = "<string>",
    *,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> ScheduleFile:
    """A standalone schedule: `steps = [...]`, optionally `scenario = "path"`,
    `policy`, `reuse` (the run it was recorded under) and `stop_at` (the step
    to open at, e.g. a counterexample's violation).

    With `threads` (or `known_labels`), entries must name those threads (labels).
    """
    doc = Document(text, path)
    if "steps" not in doc.data and SCENARIO_KEYS & doc.data.keys():
        key = next(k for k in ("title", "process", "thread") if k in doc.data)
        raise doc.error(
            (key,), "this is a scenario file, not a schedule (a schedule has `steps = [...]`): give it as the scenario"
        )
    doc.only(doc.data, (), _SCHEDULE_FILE_KEYS)
    scenario = doc.get(doc.data, (), "scenario", STRING, "")
    policy = doc.choice(doc.data, (), "policy", "policy", POLICIES, "") if "policy" in doc.data else ""
    reuse = doc.choice(doc.data, (), "reuse", "COW reuse rule", REUSE_RULES, "") if "reuse" in doc.data else ""
    stop_at = doc.get(doc.data, (), "stop_at", INTEGER, -1)
    if "stop_at" in doc.data and not 0 <= stop_at <= MAX_STEPS:
        raise doc.error(("stop_at",), f"expected a step number from 0 to {MAX_STEPS:,}, found {stop_at}")
    entries = _steps(doc, doc.data, (), threads, known_labels)
    name = doc.get(doc.data, (), "scenario_name", STRING, "")
    digest = doc.get(doc.data, (), "scenario_hash", STRING, "")
    check_digest(doc, digest)
    return ScheduleFile(
        entries, scenario, policy, reuse, None if stop_at < 0 else stop_at,
        name, digest, doc.line(("scenario_hash",)) if digest else 0, recorded_fixes_off(doc),
    )  # fmt: skip


def recorded_fixes_off(doc: Document) -> frozenset[str] | None:
    """A schedule's or session's `fixes_off = [NAME, ...]`: the fixes its run had out (None: not recorded)."""
    if "fixes_off" not in doc.data:
        return None
    names = doc.get(doc.data, (), "fixes_off", ARRAY)
    off = set()
    for i, name in enumerate(names):
        with doc.at(("fixes_off", i)):
            off.add(one_of("fix", doc.check(("fixes_off", i), name, STRING), FIXES))
    return frozenset(off)


def parse_schedule_file(
    path: str | os.PathLike[str],
    *,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> tuple[ScheduleEntry, ...]:
    """Read a schedule file (`--schedule FILE`); see `parse_schedule_meta`."""
    return load_schedule_file(path, threads=threads, known_labels=known_labels).entries


def load_schedule_file(
    path: str | os.PathLike[str],
    *,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> ScheduleFile:
    """Read a schedule file with its metadata."""
    return parse_schedule_meta(
        read_text(path, MAX_SCHEDULE_BYTES), os.fsdecode(path), threads=threads, known_labels=known_labels
    )


def parse_op(text: str) -> Op:
    """One op string such as `write 0x10000 42`; raises ScenarioError (no location)."""
    try:
        return syntax.parse_op(text)
    except Invalid as err:
        raise ScenarioError(err.message) from None


def parse_entry(
    text: str,
    threads: Collection[str] | None = None,
    known_labels: Collection[str] | None = None,
) -> ScheduleEntry:
    """One schedule entry such as `A1 until wp_page_copy:copy`; raises ScenarioError."""
    try:
        return syntax.parse_entry(text, threads, known_labels)
    except Invalid as err:
        raise ScenarioError(err.message) from None


def dump_schedule(
    entries: Iterable[ScheduleEntry],
    scenario_path: str | None,
    comment: str = "",
    *,
    policy: str = "",
    reuse: str = "",
    stop_at: int | None = None,
    identity: tuple[str, str] | None = None,
    fixes_off: Iterable[str] | None = None,
) -> str:
    """TOML text for a schedule file that `parse_schedule_file` reads back;
    `identity` is the scenario's (name, content hash)."""
    lines = [f"# {_comment_safe(line)}".rstrip() for line in comment.splitlines()]
    if scenario_path is not None:
        lines.append(f"scenario = {toml_string(scenario_path)}")
    if identity is not None:
        lines.append(f"scenario_name = {toml_string(identity[0])}")
        lines.append(f"scenario_hash = {toml_string(identity[1])}")
    if policy:
        lines.append(f"policy = {toml_string(policy)}")
    if reuse:
        lines.append(f"reuse = {toml_string(reuse)}")
    if fixes_off is not None:
        lines.append(f"fixes_off = [{', '.join(toml_string(n) for n in sorted(fixes_off))}]")
    if stop_at is not None:
        lines.append(f"stop_at = {stop_at}")
    steps = [f"    {toml_string(syntax.entry_text(entry))}," for entry in entries]
    lines += ["steps = [", *steps, "]"] if steps else ["steps = []"]
    return "\n".join(lines) + "\n"


def toml_string(text: str) -> str:
    """A TOML basic string: escapes quotes, backslashes and control characters."""
    out = []
    for ch in text:
        if ch in '"\\':
            out.append("\\" + ch)
        elif ch < " " or ch == "\x7f":
            out.append(f"\\u{ord(ch):04x}")
        elif "\ud800" <= ch <= "\udfff":  # a lone surrogate cannot be written
            out.append("\\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _comment_safe(line: str) -> str:
    return "".join(
        "?" if (ch < " " and ch != "\t") or ch == "\x7f" or "\ud800" <= ch <= "\udfff" else ch for ch in line
    )


# --- bundled scenarios ------------------------------------------------------


def list_bundled() -> list[tuple[Path, str]]:
    """(file, title) for each bundled scenario, by file name; a broken one's title is "(error: ...)"."""
    out = []
    for file in sorted(bundled_scenarios_dir().glob("*.toml"), key=lambda p: p.name):
        try:
            title = load_scenario(file).title
        except ScenarioError as err:
            title = f"(error: {err.describe(path=False)})"
        out.append((file, title))
    return out

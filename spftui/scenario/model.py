"""The parsed form of a scenario file: plain, frozen, hashable data.

Addresses are byte addresses; lengths are bytes (a multiple of PAGE_SIZE).
`line` fields remember where in the TOML file a thing was declared so that
later errors (an unknown label in a schedule, say) can still point at it.
"""

from __future__ import annotations

from collections.abc import Iterable

import attrs

from .policies import POLICIES as POLICIES  # re-exported: names are validated here
from .policies import REUSE_RULES as REUSE_RULES

PAGE_SIZE = 4096

# Limits the loader enforces (scenarios/README.md, "Limits"): a scenario that
# passes them runs at a bounded cost per step.
MAX_THREADS = 512
"""Threads in a scenario."""
MAX_PROCESSES = 128
"""Processes in a scenario, fork children included."""
MAX_MAPPING_PAGES = 1 << 20
"""Pages in one mapping (4 GiB), declared or created by an `mmap` op."""
MAX_SETUP_PAGES = 1 << 16
"""Pages present at setup (populated mappings, `data` words, inherited by `fork_of`), all processes together."""
MAX_STEPS = 1_000_000
"""A schedule entry's step count, a thread's `repeat`, a schedule's `stop_at` (a run's default step limit)."""

ORACLE_KINDS = (
    "lost_write",
    "cow_isolation",
    "use_after_free",
    "refcount",
    "stray_pte",
    "deadlock",
    "file_integrity",
    "pin_coherence",
    "rmap",
)
OP_KINDS = (
    "read",
    "write",
    "mmap",
    "munmap",
    "mprotect",
    "madvise",
    "fork",
    "reclaim",
    "age",
    "gup",
    "gup-read",
    "gup-write",
    "unpin",
    "mremap",
    "uffd-wp",
    "uffd-unwp",
)
FOLL_NAMES = ("write", "force", "pin")
"""The `gup` op's flags: FOLL_WRITE, FOLL_FORCE, FOLL_PIN (without `pin`: FOLL_GET)."""
PROTS = ("none", "r", "rw")
BREAKPOINT_KINDS = ("abort", "violation", "aba", "step", "watch", "condition")
"""What a `[[breakpoint]]` (and the TUI's `B` dialog, and `check --break`) can stop on."""
ABORT_REASONS = (
    "SEQ1",
    "SEQ2",
    "ODD",
    "VMA_COPY",
    "REFETCH",
    "PTL",
    "PMD",
    "UNMAPPED",
    "NO_VMA",
    "RANGE",
    "ACCESS_ERROR",
    "VMA_SEQ",
    "VMA_SEQ_ODD",
    "VMA_LOCK",
    "ANON_VMA",
    "FILE",
    "PAGE_LOCK",
    "SWAP",
    "SWAP_NOPAGE",
    "UFFD_WP",
    "GROWSDOWN",
)
"""Why a speculative fault aborts (SpfAbort.reason): an abort breakpoint's `match`."""
ABA_CHECKS = ("REFETCH", "pte_same", "SEQ1", "SEQ2", "VMA_COPY", "VMA_SEQ", "pmd_same")
"""The checks that can pass by ABA (Validate.check; seq_start compares nothing sampled): an aba breakpoint's `match`."""
EXPECT_VALUES = ("sometimes", "never")
BREAKPOINT_MATCHES: dict[str, tuple[str, tuple[str, ...]]] = {
    "abort": ("abort reason", ABORT_REASONS),
    "violation": ("oracle", ORACLE_KINDS),
    "aba": ("check", ABA_CHECKS),
}
"""What an abort, violation or aba breakpoint's `match` names, and the names it can be."""


@attrs.frozen
class KernelPreset:
    """A kernel release a scenario can name (`kernel = "6.4.0"`): what it decides.

    name       the release as scenarios write it
    reuse      its COW reuse rule (kernel-mm.md C.3), the scenario's default
    policy     its validation policy, the scenario's default ("classic": no
               speculative faults in that release)
    fixes_off  the modelled fixes it lacks (scenario/fixes.py)
    note       one line: why this release, with the commits
    maple_tree its VMAs are in a maple tree (6.1 and later): before, an rbtree,
               whose find_vma_prev and stack expansion are not modelled (the
               loader refuses a `growsdown` mapping there)
    """

    name: str
    reuse: str
    policy: str = "classic"
    fixes_off: frozenset[str] = frozenset()
    note: str = ""
    maple_tree: bool = True


KERNEL_PRESET_LIST: tuple[KernelPreset, ...] = (
    KernelPreset(
        "5.7",
        "mapcount",
        fixes_off=frozenset({"fork_copy_pinned", "gup_force_cow", "madv_free_refcount_check"}),
        note="v5.7 (5.7.0-5.7.2): 5.8's mapcount rule and pinned-page fork, without GUP's forced COW break "
        "(17839856fd58; stable 5.7.3 has it, per the CVE text): a read GUP does not break COW",
        maple_tree=False,
    ),
    KernelPreset(
        "5.8",
        "mapcount",
        fixes_off=frozenset({"fork_copy_pinned", "madv_free_refcount_check"}),
        note="do_wp_page reuses by mapcount (reuse_swap_page); fork shares pinned pages (before 70e806e4e645); "
        "GUP forces a COW break on COW mappings, even for a read (17839856fd58, 5.8 only: a308c71bf1e6 removed it)",
        maple_tree=False,
    ),
    KernelPreset(
        "5.11",
        "page-count",
        fixes_off=frozenset({"uffd_wp_flush_pending", "madv_free_refcount_check"}),
        note="page_count rule (09854ba94c6a) without 6ce64428d620: uffd-wp's deferred TLB flush races COW",
        maple_tree=False,
    ),
    KernelPreset(
        "5.12",
        "page-count",
        fixes_off=frozenset({"madv_free_refcount_check"}),
        note="do_wp_page by page_count since 5.9 (09854ba94c6a); swap-in by mapcount",
        maple_tree=False,
    ),
    KernelPreset(
        "5.17",
        "page-count",
        fixes_off=frozenset({"madv_free_refcount_check"}),
        note="the last release with reuse_swap_page in do_swap_page",
        maple_tree=False,
    ),
    KernelPreset(
        "5.18",
        "anon-exclusive",
        fixes_off=frozenset({"gup_unshare"}),
        note="refcount rule in do_swap_page and THP, reuse_swap_page removed (c145e0b47c77); no PG_anon_exclusive "
        "and no GUP unsharing yet (5.19: 6c287605fd56, c89357e27f20, a7f226604170): the model runs 5.19's reuse "
        "rule without gup_unshare, which differs from 5.18 only for an exclusive page with extra references",
        maple_tree=False,
    ),
    KernelPreset("5.19", "anon-exclusive", note="PG_anon_exclusive (6c287605fd56)", maple_tree=False),
    KernelPreset(
        "6.1",
        "anon-exclusive",
        fixes_off=frozenset({"expand_stack_write_lock"}),
        note="a 6.1.y between the backport of the maple tree's RCU mode (3dd4432549415, 6.3) and 6.1.37: VMAs in a "
        "maple tree whose replaced nodes are freed by RCU; a fault expands a stack under the mmap read lock (StackRot, "
        "CVE-2023-3269: fixed in 6.1.37 and 6.5 by 8d7071af8907). 6.1.0 itself rewrote nodes in place (StackRot's "
        "prequel, a torn node: not modelled)",
    ),
    KernelPreset(
        "6.1.37",
        "anon-exclusive",
        note="stable 6.1.37 carries the expand-stack series: a fault expands a stack only under the mmap write lock "
        "(lock_mm_and_find_vma, c2508ec5a58d; 8d7071af8907)",
    ),
    KernelPreset("6.4", "anon-exclusive", note="6.4 with its stable fixes (as 6.4.3), classic faults by default"),
    KernelPreset(
        "6.4.0",
        "anon-exclusive",
        "vma-lock",
        frozenset({"fork_vma_write_lock", "expand_stack_write_lock"}),
        note="per-VMA locks on x86 (0bff0aaea03e); dup_mmap does not write-lock the parent's VMAs; a fault expands "
        "a stack under the mmap read lock (StackRot: fixed in 6.4.1)",
    ),
    KernelPreset(
        "6.4.3",
        "anon-exclusive",
        "vma-lock",
        note="stable 6.4.3 carries fb49c455323f: dup_mmap write-locks every parent VMA",
    ),
)
KERNEL_PRESET: dict[str, KernelPreset] = {k.name: k for k in KERNEL_PRESET_LIST}
KERNEL_PRESETS: dict[str, str] = {k.name: k.reuse for k in KERNEL_PRESET_LIST}
"""Release -> COW reuse rule (kept for callers that want only the rule)."""


@attrs.frozen
class Op:
    """One user-level operation a thread performs.

    kind     one of OP_KINDS
    addr     target address (read/write/reclaim) or range start
    length   range length in bytes (mmap/munmap/mprotect/madvise)
    value    the word written (write)
    prot     "none" | "r" | "rw" (mmap/mprotect)
    advice   "dontneed" | "free" (madvise)
    child    name of the new process (fork)
    foll     the gup op's flags, a subset of FOLL_NAMES in that order
    new_length, new_addr, dontunmap
             mremap: the new size, the MREMAP_MAYMOVE|MREMAP_FIXED target
             (None: resize in place), MREMAP_DONTUNMAP
    text     the op as written in the file, for display
    line     1-based line in the scenario file (0 if unknown)
    """

    kind: str
    addr: int = 0
    length: int = 0
    value: int = 0
    prot: str = ""
    advice: str = ""
    child: str = ""
    text: str = ""
    line: int = 0
    foll: tuple[str, ...] = ()
    new_length: int = 0
    new_addr: int | None = None
    dontunmap: bool = False


@attrs.frozen
class Mapping:
    """A private mapping present when the process starts: anonymous, or of
    `file` (MAP_PRIVATE from its first page: reads see the page cache, a
    write copies the page into an anonymous one). `uffd_wp`: registered with
    the process's userfaultfd for write-protect faults (UFFDIO_REGISTER_MODE_WP,
    VM_UFFD_WP), anonymous mappings only. `growsdown`: a stack (MAP_GROWSDOWN,
    VM_GROWSDOWN): a fault just below it expands it (kernel/stack.py), anonymous
    mappings only."""

    start: int
    length: int
    prot: str = "rw"
    populate: bool = False
    line: int = 0
    file: str = ""
    uffd_wp: bool = False
    growsdown: bool = False


@attrs.frozen
class File:
    """A file whose pages are all in the page cache from the start.

    data  initial words: ((byte offset in the file, value), ...)
    """

    name: str
    pages: int
    data: tuple[tuple[int, int], ...] = ()
    line: int = 0


@attrs.frozen
class Process:
    """A process (an mm) created at setup.

    fork_of  if set, this process is forked from that one at setup (after the
             parent's mappings and data are in place): COW sharing as dup_mmap.
    data     initial words written at setup: ((addr, value), ...); the pages
             written become present, as if the process had touched them.
    """

    name: str
    mappings: tuple[Mapping, ...] = ()
    data: tuple[tuple[int, int], ...] = ()
    fork_of: str | None = None
    line: int = 0


@attrs.frozen
class Thread:
    """A thread: its process, its operations, how many times it repeats them."""

    name: str
    process: str
    ops: tuple[Op, ...]
    repeat: int = 1
    line: int = 0


@attrs.frozen
class ScheduleEntry:
    """One entry of a fixed schedule.

    thread  the thread to run
    steps   run this many steps (default 1) ...
    until   ... or run until the thread is about to execute this step label
            (it stops *before* the step), or "done" to run until it finishes.
    A thread that is blocked, finished, or never reaches the label ends the
    entry early and the schedule moves on to the next one.
    """

    thread: str
    steps: int = 1
    until: str | None = None
    text: str = ""
    line: int = 0


@attrs.frozen
class OracleSpec:
    """A scenario's own oracle (`[[oracle]]`): violated at the first state, after a step,
    where `when` (the debugger's expression language, engine/expr.py) is true.

    name       its kind, as a Violation, a verdict and an `[expect]` line name it
    when       the expression; the engine checks and evaluates it
    detail     the sentence a report gives ("" : the expression is quoted)
    key, line  where it is declared (`oracle[1]`), and where its `when` is
    """

    name: str
    when: str
    detail: str = ""
    key: str = ""
    line: int = 0
    when_line: int = 0


@attrs.frozen
class BreakpointSpec:
    """A scenario's `[[breakpoint]]`: set when the debugger opens the scenario, honoured by
    `spftui check` as `--break` is.

    kind       one of BREAKPOINT_KINDS
    match      abort: a reason; violation: an oracle; aba: a check; step: a label ("" for any)
    thread     abort, aba, step: only this thread ("" for any)
    expr       watch: the watched expression; condition: stop when it becomes true
    condition  an extra condition that must hold (the `B` dialog's "only if")
    enabled    false: set, but disabled
    key, line  where it is declared (`breakpoint[1]`), and where its `expr` and `condition`
               are (the engine checks expressions and reports them there)
    """

    kind: str
    match: str = ""
    thread: str = ""
    expr: str = ""
    condition: str = ""
    enabled: bool = True
    key: str = ""
    line: int = 0
    expr_key: str = ""
    expr_line: int = 0
    condition_line: int = 0


@attrs.frozen
class ScheduleFile:
    """A schedule file: its entries and the run it was recorded under."""

    entries: tuple[ScheduleEntry, ...]
    scenario: str = ""
    policy: str = ""
    reuse: str = ""
    stop_at: int | None = None
    scenario_name: str = ""  # the identity of the scenario it was recorded on (engine/schedule_file.py)
    scenario_hash: str = ""
    scenario_hash_line: int = 0
    fixes_off: frozenset[str] | None = None  # the run's fixes taken out (None: the scenario's own)


FIXES_OFF = "fixes_off"
"""`[expect.fixes_off.NAME]`: the expectations of a run with fix NAME off."""

ANY_POLICY = "*"
"""The policy of an `[expect.REUSE]` table: it covers every policy under that rule."""


@attrs.frozen
class ExpectTable:
    """One expectation table of a scenario, resolved to the run it is about.

    policy  the validation policy it applies to (ANY_POLICY: every policy)
    reuse   the COW reuse rule it applies to
    pairs   ((oracle kind, "sometimes" | "never"), ...)
    name    the table as written in the file (`[expect]`, `[expect.spf-mm-seq.page-count]`)
    fix_off the fix whose absence it is about (`[expect.fixes_off.NAME]`: the
            file's policy and rule with NAME off, or the fix's own rule when
            its code never runs under the file's: `Fix.reuse`); "" for every
            other table
    """

    policy: str
    reuse: str
    pairs: tuple[tuple[str, str], ...]
    name: str = "[expect]"
    fix_off: str = ""


def pins_a_page(threads: Iterable[Thread]) -> bool:
    """Does a thread pin a page (a `gup … pin` op)?"""
    return any(op.kind == "gup" and "pin" in op.foll for t in threads for op in t.ops)


@attrs.frozen
class Scenario:
    """A whole scenario file.

    expect  the expectation tables, each keyed by (policy, reuse rule); the
            loader resolves `[expect]` to the file's own policy and rule,
            `[expect.POLICY]` to POLICY under the file's rule, `[expect.REUSE]`
            to every policy under REUSE and `[expect.POLICY.REUSE]` to both;
            `[expect.fixes_off.NAME]` is the file's policy and rule on a run
            without fix NAME, and wins when the run lacks it.
    fixes_off  the modelled fixes this run lacks: the kernel preset's, then
            `[fixes]`, then `--fix` (`with_fixes`)
    fixes_as_written  the file's own fixes_off (preset and `[fixes]`); the
            plain tables describe that configuration only (None: no file)
    """

    title: str
    description: str = ""
    policy: str = "classic"
    reuse: str = "anon-exclusive"
    kernel: str | None = None
    words_per_page: int = 4
    processes: tuple[Process, ...] = ()
    threads: tuple[Thread, ...] = ()
    schedule: tuple[ScheduleEntry, ...] | None = None
    expect: tuple[ExpectTable, ...] = ()
    seed: int = 0
    path: str = ""
    fixes_off: frozenset[str] = frozenset()  # modelled fixes taken out (scenario/fixes.py)
    files: tuple[File, ...] = ()
    breakpoints: tuple[BreakpointSpec, ...] = ()  # `[[breakpoint]]`: not part of the scenario's hash
    fixes_as_written: frozenset[str] | None = None
    oracles: tuple[OracleSpec, ...] = ()  # `[[oracle]]`: not part of the scenario's hash (they decide no step)

    @property
    def oracle_kinds(self) -> tuple[str, ...]:
        """The oracles a run of this scenario checks: the built-in ones (ORACLE_KINDS), then its own."""
        return (*ORACLE_KINDS, *(o.name for o in self.oracles))

    def expectations(self, policy: str | None = None, reuse: str | None = None) -> dict[str, str]:
        """The expectations for a run under `policy` and `reuse` (default: this
        scenario's); {} when no table covers that configuration."""
        table = self.expect_table(policy, reuse)
        return {} if table is None else dict(table.pairs)

    def expect_table(self, policy: str | None = None, reuse: str | None = None) -> ExpectTable | None:
        """The table that applies under `policy` and `reuse`: an `[expect.fixes_off.NAME]`
        one when this run lacks fix NAME, else the one naming both, else the
        `[expect.REUSE]` one for every policy; None when none exists, or when
        the run's fixes differ from the file's and no fixes_off table says what
        that run should show (the file's tables are about its own fixes)."""
        policy = policy or self.policy
        reuse = reuse or self.reuse
        for t in self.expect:  # a fix this run lacks decides first
            if t.fix_off in self.fixes_off and t.policy == policy and t.reuse == reuse:
                return t
        if self.fixes_as_written is not None and self.fixes_off != self.fixes_as_written:
            return None
        for t in self.expect:
            if not t.fix_off and t.policy == policy and t.reuse == reuse:
                return t
        for t in self.expect:
            if not t.fix_off and t.policy == ANY_POLICY and t.reuse == reuse:
                return t
        return None

    def with_policy(self, policy: str | None = None, reuse: str | None = None) -> Scenario:
        """A copy under another validation policy and/or COW reuse rule."""
        return attrs.evolve(
            self,
            policy=policy or self.policy,
            reuse=reuse or self.reuse,
        )

    @property
    def features(self) -> frozenset[str]:
        """What a fix's code may need to run at all (`Fix.needs`): a `fork` op, a `gup`
        op, a pin (`gup … pin`), a `uffd_wp` mapping, a `madvise … free` op, a `growsdown`
        mapping ("stack")."""
        ops = [op for t in self.threads for op in t.ops]
        found = {"fork": any(op.kind == "fork" for op in ops), "gup": any(op.kind == "gup" for op in ops)}
        found["madv_free"] = any(op.kind == "madvise" and op.advice == "free" for op in ops)
        found["pin"] = pins_a_page(self.threads)
        found["uffd_wp"] = any(mp.uffd_wp for p in self.processes for mp in p.mappings)
        found["stack"] = any(mp.growsdown for p in self.processes for mp in p.mappings)
        return frozenset(k for k, v in found.items() if v)

    def with_fixes(self, switches: dict[str, bool]) -> Scenario:
        """A copy with each named fix switched on (True) or off (False)."""
        off = set(self.fixes_off)
        for name, on in switches.items():
            (off.discard if on else off.add)(name)
        return attrs.evolve(self, fixes_off=frozenset(off))

"""The timeline search (`/`): which steps a query matches.

A query is words, all of which must match a step. A word may name what it
matches:

    thread:A2  t:A2      the thread that ran the step (exactly)
    label:seq  l:seq     its step label (a part of it)
    kind:aba   k:aba     an event kind it emitted (exactly: aba, validate, pte, spf_abort, …)
    obj:A.pte  o:0x10000 an object its events name (a part of it)

A bare word matches any of the four (a thread exactly, the rest in part),
so `A2 mprotect` finds A2's steps that mention mprotect. Case is ignored.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from typing import NamedTuple

from .steps import StepSummary

FIELDS = {"thread": "thread", "t": "thread", "label": "label", "l": "label", "kind": "kind", "k": "kind"}
FIELDS |= {"obj": "obj", "o": "obj", "object": "obj"}


class QueryError(ValueError):
    """A query that cannot mean anything."""


class Query(NamedTuple):
    text: str
    terms: tuple[tuple[str, str], ...]  # (field or "", word), lower case

    @classmethod
    def parse(cls, text: str) -> Query:
        terms: list[tuple[str, str]] = []
        for word in text.split():
            field, sep, rest = word.partition(":")
            if sep and field.lower() in FIELDS and rest:
                terms.append((FIELDS[field.lower()], rest.lower()))
            elif sep and field.lower() in FIELDS:
                raise QueryError(f"{word!r}: nothing after the colon")
            else:
                terms.append(("", word.lower()))
        if not terms:
            raise QueryError("an empty search: type a thread, a label, an event kind or an object")
        return cls(text.strip(), tuple(terms))

    def hint(self, threads: Sequence[str], kinds: Iterable[str]) -> str:
        """Why nothing may match: a thread or event kind named that no step can have
        (with the one meant), or "" when every word could match something."""
        for field, word in self.terms:
            names = {"thread": list(threads), "kind": sorted(kinds)}.get(field)
            if names is None:
                continue
            known = {n.lower(): n for n in names}  # (the query is lower case)
            if word in known:
                continue
            near = difflib.get_close_matches(word, list(known), n=1)
            what = "a thread" if field == "thread" else "an event kind"
            return f"{word!r} is not {what}" + (
                f"; did you mean {known[near[0]]}?" if near else f" ({', '.join(names)})"
            )
        return ""

    def matches(self, thread: str, label: str, step: StepSummary) -> bool:
        thread, label = thread.lower(), label.lower()
        kinds = {k.lower() for k in step.kinds}
        objects = step.objects.lower() + " " + " ".join(step.checks).lower()
        for field, word in self.terms:
            if field == "thread":
                ok = thread == word
            elif field == "label":
                ok = word in label
            elif field == "kind":
                ok = word in kinds
            elif field == "obj":
                ok = word in objects
            else:
                ok = thread == word or word in label or word in kinds or word in objects
            if not ok:
                return False
        return True

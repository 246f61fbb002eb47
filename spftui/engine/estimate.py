"""How much of an exhaustive search is behind it, from its own stack.

The classic estimate for a depth-first search (Kilby et al., "Estimating
search tree size", AAAI 2006) counts each node's children as equal shares
of it. A stateful search breaks that: a node's first child finds nearly
all of its new states and the later ones mostly meet visited states, so
the classic estimate reads 0% until the last seconds (measured: 0.1% at
half of the seed's search). So do random probes (GenMC's estimation mode
samples random executions): they pass through the middle of the space,
which a DFS reaches last.

What the states look like decides the shares. The threads' positions span
a lattice: from a state where thread i has r_i transitions left, about
prod(r_i + 1) states are reachable, and the DFS's child "run thread c
first" finds the ones where c has moved on, r_c/(r_c + 1) of them; the
next child, those where c has not moved and its own thread has, and so on
(locks, aborts and data make the real space smaller, not differently
shaped). The estimate walks the stack from the root and adds, level by
level, the shares of the children finished, weighted by the share of the
one in progress. A thread's length is the mean number of transitions it
took in the complete executions the search has reached so far (the first
is the DFS's first path, where each thread runs alone): the longest would
count contended paths everywhere, the first alone the uncontended ones.

A DFS node is [.., the threads left to try, .., .., the threads it tries in
order, how many choices reached it] (explorer._exhaustive); the path holds
one thread index per choice.
"""

from __future__ import annotations

from typing import Any

_TODO = 1  # the threads a DFS node has left to try
_RUN = 4  # the threads it tries, in order
_STEPS = 5  # how many choices (path entries) reached it


class Estimate:
    """The threads' lengths so far, and the share of the search behind a stack."""

    def __init__(self, threads: int) -> None:
        self.lengths = [0] * threads
        self.sums = [0] * threads
        self.ends = 0

    def ended(self, path: list[int]) -> None:
        """The search reached a state where no thread can run, by `path`."""
        counts = [0] * len(self.lengths)
        for t in path:
            counts[t] += 1
        self.ends += 1
        self.sums = [a + b for a, b in zip(self.sums, counts, strict=True)]
        self.lengths = [round(a / self.ends) for a in self.sums]

    def done(self, stack: list[list[Any]], path: list[int]) -> float:
        """The estimated share of the search behind a DFS with this stack and path."""
        lengths = self.lengths
        if not any(lengths):
            return 0.0
        counts = [0] * len(lengths)
        at = 0
        done = 0.0
        weight = 1.0
        top = len(stack) - 1
        for i, node in enumerate(stack):
            steps = node[_STEPS]
            for t in path[at : at + steps]:
                counts[t] += 1
            at += steps
            run = node[_RUN]
            began = len(run) - len(node[_TODO])
            if not run or not began:
                break
            shares = []
            stay = 1.0  # the share where the threads before have not moved
            for t in run:
                r = max(lengths[t] - counts[t], 1)  # it can run: one transition at least
                shares.append(stay * r / (r + 1))
                stay /= r + 1
            total = sum(shares) + stay  # + the node itself
            if i == top:  # every child it began is finished (or met a visited state)
                done += weight * (stay + sum(shares[:began])) / total
                break
            done += weight * (stay + sum(shares[: began - 1])) / total
            weight *= shares[began - 1] / total
        return min(done, 1.0)

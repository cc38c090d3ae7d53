"""How many of a day's posts each product deserves: an :class:`Allocation` gives shares, :func:`apportion` turns
them into whole post counts.

The plan asks the allocation once per platform and day with every product that still has unused clips there
(clips without a product form one more bucket, :data:`NO_PRODUCT`). :class:`EqualShares` is the default; the
feedback loop registers a bandit under its own name later and ``mcn plan --allocation NAME`` picks it.

Shares are relative weights: only their ratios matter, a product missing from the answer (or with share 0) gets
no post that day. :func:`apportion` splits the day's slots in proportion to the shares with the largest-remainder
method (Hamilton), never giving a product more posts than it has unused clips; what a product cannot use goes to
the others in proportion to their shares.
"""

from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable, Hashable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import ClassVar, TypeVar

#: The key of the bucket that holds every clip without a product.
NO_PRODUCT = None

K = TypeVar("K", bound=Hashable)


@dataclass(frozen=True, slots=True)
class ProductCandidate:
    """A product the plan could post today, as the allocation sees it.

    Attributes:
        product_id: the product's id, or ``None`` for the bucket of clips without a product.
        name: its name (the product id when the products table has no row for it).
        niches: its categories; empty matches every account.
        supply: how many distinct clips (content groups) of it are still unused on the platform today.
        price, commission_rate: from the products table, for allocations that weigh earnings.
    """

    product_id: str | None
    name: str
    niches: tuple[str, ...]
    supply: int
    price: float | None = None
    commission_rate: float | None = None


class Allocation(ABC):
    """Decides the relative share of a day's posts each product gets."""

    name: ClassVar[str]

    @abstractmethod
    def shares(self, products: Sequence[ProductCandidate], day: date) -> dict[str | None, float]:
        """A non-negative weight per ``product_id`` (``None`` = clips without a product) for ``day``.

        Products left out get nothing; the weights need not sum to 1.
        """


_REGISTRY: dict[str, Callable[[], Allocation]] = {}


def register_allocation(name: str) -> Callable[[Callable[[], Allocation]], Callable[[], Allocation]]:
    """Class decorator: make an allocation available under ``name`` (``mcn plan --allocation NAME``)."""

    def add(factory: Callable[[], Allocation]) -> Callable[[], Allocation]:
        _REGISTRY[name] = factory
        return factory

    return add


def allocation_names() -> list[str]:
    """Every registered allocation name."""
    _load_builtin_allocations()
    return sorted(_REGISTRY)


def get_allocation(name: str) -> Allocation:
    """A new allocation registered under ``name``; a one-line ``ValueError`` names the unknown one."""
    _load_builtin_allocations()
    try:
        factory = _REGISTRY[name]
    except KeyError:
        raise ValueError(f"unknown allocation {name!r}; known: {', '.join(allocation_names())}") from None
    return factory()


def _load_builtin_allocations() -> None:
    # The feedback loop's bandit (``thompson``) lives in analytics, which reads orders; imported on first use so
    # the plan does not load it unless allocations are listed or looked up.
    import importlib

    try:
        importlib.import_module("analytics.learn")
    except ModuleNotFoundError as exc:
        if exc.name != "analytics.learn":
            raise


@register_allocation("equal")
class EqualShares(Allocation):
    """Every product with unused clips (and the no-product bucket) gets the same share: the plan's default until
    the feedback loop has evidence to do better."""

    name = "equal"

    def shares(self, products: Sequence[ProductCandidate], day: date) -> dict[str | None, float]:
        return {p.product_id: 1.0 for p in products if p.supply > 0}


def _order(key: Hashable) -> tuple[bool, str]:
    # Deterministic tie-break that also sorts the None bucket (first).
    return (key is not None, str(key))


def apportion(total: int, shares: Mapping[K, float], supply: Mapping[K, int]) -> dict[K, int]:
    """Split ``total`` posts in proportion to ``shares``, each key at most ``supply[key]``.

    Keys whose proportional part exceeds their supply get their supply and the rest is split again among the
    others (water-filling); the fractional parts are then rounded with the largest-remainder method, ties going to
    the larger share, then to the key order. The counts sum to ``min(total, supply of the keys with a share)``.

    >>> apportion(10, {"a": 1.0, "b": 1.0, "c": 1.0}, {"a": 9, "b": 9, "c": 9})
    {'a': 4, 'b': 3, 'c': 3}
    >>> apportion(10, {"a": 1.0, "b": 1.0}, {"a": 2, "b": 50})
    {'a': 2, 'b': 8}
    """
    active = {k: float(w) for k, w in shares.items() if w > 0 and math.isfinite(w) and supply.get(k, 0) > 0}
    counts: dict[K, int] = {k: 0 for k in shares}
    remaining = max(int(total), 0)
    while active and remaining > 0:
        weight = sum(active.values())
        ideal = {k: remaining * w / weight for k, w in active.items()}
        saturated = [k for k, x in ideal.items() if x >= supply[k]]
        if saturated:
            for k in saturated:
                counts[k] = supply[k]
                remaining -= supply[k]
                del active[k]
            continue
        floors = {k: math.floor(x) for k, x in ideal.items()}
        for k, n in floors.items():
            counts[k] = n
        leftover = remaining - sum(floors.values())
        ranked = sorted(active, key=lambda k: (-(ideal[k] - floors[k]), -active[k], _order(k)))
        for k in ranked[:leftover]:
            counts[k] += 1
        break
    return counts

"""The Deployment controller's arithmetic: rolling updates with maxSurge / maxUnavailable.

In: the desired replica count, the new revision, every revision's ReplicaSet size (``replicas``)
and its available (Ready) pods, and the budgets.  Out: the ReplicaSet sizes for the next step.
Pure functions, as upstream's pkg/controller/deployment (rolling.go, util/deployment_util.go)
compute them:

- fenceposts: maxSurge rounds up, maxUnavailable rounds down, and both 0 means maxUnavailable 1;
- scale up the new ReplicaSet while all pods stay within desired + maxSurge;
- scale down old ReplicaSets only while available pods stay at or above desired - maxUnavailable,
  removing their unavailable pods first, oldest ReplicaSet first.
"""

from __future__ import annotations

import math
from collections.abc import Mapping


def resolve(value: int | str, total: int, round_up: bool) -> int:
    """IntOrString against ``total``: ``3`` is 3, ``'25%'`` of 10 is 3 (up) or 2 (down)."""
    if isinstance(value, int):
        return value
    scaled = total * int(value.strip().rstrip("%")) / 100.0
    return math.ceil(scaled) if round_up else math.floor(scaled)


def fenceposts(max_surge: int | str, max_unavailable: int | str, desired: int) -> tuple[int, int]:
    """(surge, unavailable) for ``desired`` replicas; never both 0."""
    surge = resolve(max_surge, desired, round_up=True)
    unavailable = resolve(max_unavailable, desired, round_up=False)
    if surge == 0 and unavailable == 0:
        unavailable = 1
    return surge, unavailable


def rolling_step(
    desired: int,
    new_rev: int,
    replicas: Mapping[int, int],
    available: Mapping[int, int],
    surge: int,
    unavailable: int,
) -> dict[int, int]:
    """One sync of a rolling Deployment: the next size of every ReplicaSet (revision -> replicas)."""
    out = {rev: n for rev, n in replicas.items()}
    new = out.setdefault(new_rev, 0)
    if new > desired:
        out[new_rev] = desired
        return out
    if new < desired:
        room = desired + surge - sum(out.values())
        if room > 0:
            out[new_rev] = new + min(room, desired - new)
            return out
    old = sorted(rev for rev in out if rev != new_rev and out[rev] > 0)
    if not old:
        return out
    min_available = desired - unavailable
    new_unavailable = out[new_rev] - available.get(new_rev, 0)
    budget = sum(out.values()) - min_available - new_unavailable
    for rev in old:  # cleanupUnhealthyReplicas
        if budget <= 0:
            return out
        cut = min(max(out[rev] - available.get(rev, 0), 0), budget)
        out[rev] -= cut
        budget -= cut
    available_total = sum(available.get(rev, 0) for rev in out)
    budget = available_total - min_available
    for rev in old:  # scaleDownOldReplicaSetsForRollingUpdate
        if budget <= 0:
            break
        cut = min(out[rev], budget)
        out[rev] -= cut
        budget -= cut
    return out


def rollout_complete(desired: int, new_rev: int, replicas: Mapping[int, int], available: Mapping[int, int]) -> bool:
    """Every ReplicaSet but the new one is at 0 and the new one has ``desired`` available pods."""
    others = sum(n for rev, n in replicas.items() if rev != new_rev)
    return others == 0 and replicas.get(new_rev, 0) == desired and available.get(new_rev, 0) >= desired

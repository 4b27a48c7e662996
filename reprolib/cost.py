"""The expected cost of a run from its parameters alone, to warn before overrides make a run far bigger
than its preset (a partial override once ran 100 teachers x 50 epochs at ``smoke``).

The estimate counts the work that dominates trajectory matching: teacher training (teachers x epochs x
training images) and matching (iterations x unrolled steps), plus the expert trajectories' disk size
(one checkpoint per teacher epoch). It compares runs; it is not a time prediction.
"""

from __future__ import annotations

import dataclasses
from typing import Any

FAR_ABOVE = 10.0  # a run this many times the preset's cost needs --yes


@dataclasses.dataclass(frozen=True)
class Cost:
    teacher_image_epochs: int = 0  # teachers x epochs x training images, summed over distinct teacher sets
    matching_steps: int = 0  # iterations x unrolled student steps, summed over distillations
    trajectory_checkpoints: int = 0  # teachers x (epochs + 1) network copies kept on disk

    def __add__(self, other: "Cost") -> "Cost":
        return Cost(*(a + b for a, b in zip(dataclasses.astuple(self), dataclasses.astuple(other))))

    def text(self) -> str:
        return (f"{self.teacher_image_epochs:,} teacher image-epochs, {self.matching_steps:,} matching steps, "
                f"{self.trajectory_checkpoints:,} stored teacher checkpoints")

    def ratio(self, base: "Cost") -> float:
        """The largest factor by which any part exceeds ``base`` (a part absent from ``base`` counts once)."""
        pairs = zip(dataclasses.astuple(self), dataclasses.astuple(base))
        return max((mine / max(theirs, 1) for mine, theirs in pairs), default=0.0)


def _settings(value: Any):
    """Every trajectory-matching setting (dataset + teachers + match) inside a parameter tree."""
    if dataclasses.is_dataclass(value):
        if all(hasattr(value, k) for k in ("dataset", "teachers", "match")):
            yield value
        for field in dataclasses.fields(value):
            yield from _settings(getattr(value, field.name))
    elif isinstance(value, (list, tuple)):
        for item in value:
            yield from _settings(item)


def estimate(params: Any) -> Cost:
    """The cost of the distinct settings in ``params`` (teachers are shared between settings of one dataset)."""
    from reprolib.data import dataset_info

    total, teachers_seen = Cost(), set()
    for setting in {repr(s): s for s in _settings(params)}.values():  # settings hold dicts: dedupe by repr
        info = dataset_info(setting.dataset)
        teachers = setting.teachers
        key = repr((setting.dataset, getattr(setting, "zca", False), teachers))
        if key not in teachers_seen:
            teachers_seen.add(key)
            total += Cost(teachers.num_teachers * teachers.epochs * info.train_per_class_min * info.num_classes, 0,
                          teachers.num_teachers * (teachers.epochs + 1))
        total += Cost(0, setting.match.iterations * setting.match.syn_steps, 0)
    return total


def check(name: str, preset: str, overrides: dict, confirmed: bool) -> str | None:
    """A message when ``overrides`` make artifact ``name`` cost more than its preset: a note when above
    it, an error (ValueError) when far above it and not ``confirmed``; None when the preset's scale holds."""
    from reprolib.presets import resolve

    if not overrides:
        return None
    mine, base = estimate(resolve(name, preset, overrides)), estimate(resolve(name, preset))
    factor = mine.ratio(base)
    if factor <= 2:
        return None
    message = f"{name}: expected cost {mine.text()} — {factor:.0f}x the preset's ({base.text()})"
    if factor > FAR_ABOVE and not confirmed:
        raise ValueError(f"{message}. Check the overrides (a list entry merges with the preset's; see --help), "
                         "or pass --yes to run it anyway")
    return message

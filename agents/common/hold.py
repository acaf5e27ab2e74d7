"""A choice held per env copy for a whole episode (a routed path, a simulated partner's distortion)."""

from __future__ import annotations

import torch
from torch import Tensor


class EpisodeHold:
    """Each env copy's choice, drawn where its episode starts and kept to the episode's end."""

    def __init__(self, what: str) -> None:
        self.what = what  # named in the error, e.g. "a path"
        self.held: Tensor | None = None

    def __call__(self, fresh: Tensor, starts: Tensor | None) -> tuple[Tensor, Tensor]:
        """(each row's choice, which rows drew it now): `fresh` where an episode starts (`starts` [B]
        bool), else the choice held since. `starts` None: no episode stream, every row takes `fresh`
        and nothing is held."""
        if starts is None:
            return fresh, torch.ones(fresh.shape[0], dtype=torch.bool, device=fresh.device)
        if starts.shape != fresh.shape[:1]:
            raise ValueError(f"{self.what}: starts must mark each of the {fresh.shape[0]} rows, got shape "
                             f"{tuple(starts.shape)}")
        starts = starts.bool()
        if self.held is None or self.held.shape != fresh.shape or self.held.device != fresh.device:
            if not bool(starts.all()):
                raise ValueError(f"{self.what} is held per env copy for an episode, but {fresh.shape[0]} rows arrived "
                                 "mid-episode with none held for them: start every row (starts all true) first")
            held = fresh
        else:
            held = torch.where(starts.view(-1, *[1] * (fresh.dim() - 1)), fresh, self.held)
        self.held = held
        return held, starts

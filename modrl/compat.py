"""Reading what older releases of modrl wrote; everything of the kind lives here."""

from __future__ import annotations

from typing import Callable

from torch import Tensor

Stack = Callable[[dict[str, Tensor], dict[str, Tensor]], dict[str, Tensor]]


def stack_two_mlp_actor_critic(state_dict: dict[str, Tensor], prefix: str, stack: Stack) -> None:
    """Rewrite, in place, an actor-critic module's tensors saved as two `MLP`s (`actor.net.*`,
    `critic.net.*`) into the stacked layout, with `stack(actor, critic)` the module's own stacking."""
    if not any(k.startswith(prefix + "actor.net.") for k in state_dict):
        return
    parts = {}
    for part in ("actor", "critic"):
        head = f"{prefix}{part}.net."
        parts[part] = {k[len(head):]: state_dict.pop(k) for k in list(state_dict) if k.startswith(head)}
        parts[part] = dict(sorted(parts[part].items(), key=lambda kv: (int(kv[0].split(".")[0]), kv[0])))
    for name, value in stack(parts["actor"], parts["critic"]).items():
        state_dict[prefix + name] = value

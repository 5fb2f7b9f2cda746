"""Randomness that flows from a config seed through ``torch.Generator`` objects, never the clock."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    g = torch.Generator(device=device)
    g.manual_seed(int(seed))
    return g


def draw_seed(generator: torch.Generator) -> int:
    """A fresh integer seed drawn from ``generator`` (for code that only takes the global RNG)."""
    return int(torch.randint(0, 2**62, (1,), generator=generator).item())


@contextlib.contextmanager
def seeded_global_rng(seed: int) -> Iterator[None]:
    """Run a block (e.g. ``nn.Module`` construction, whose init uses the global RNG) under
    ``seed`` without disturbing the caller's global RNG state."""
    # manual_seed also reseeds every CUDA device: fork their states too, so the caller's are restored
    cuda = list(range(torch.cuda.device_count())) if torch.cuda.is_available() else []
    with torch.random.fork_rng(devices=cuda):
        torch.manual_seed(seed)
        yield

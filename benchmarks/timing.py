"""Side-by-side timing on a shared, noisy machine: the candidates run interleaved, round
after round, and each keeps its fastest round, so a burst of load from elsewhere slows
one round of every candidate rather than all rounds of one."""

from __future__ import annotations

import platform
import time

import torch


def machine(device: str = "cpu") -> str:
    """One line naming what the figures were measured on."""
    name = torch.cuda.get_device_name() if device.startswith("cuda") else (platform.processor() or platform.machine())
    return f"# {name}, {torch.get_num_threads()} threads, torch {torch.__version__}, device {device}"


def sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize()


def interleaved(candidates: dict, rounds: int = 3, device: str = "cpu") -> dict[str, float]:
    """Fastest wall time (s) of each ``candidates[name]()`` over ``rounds`` interleaved rounds."""
    best = {name: float("inf") for name in candidates}
    for _ in range(rounds):
        for name, run in candidates.items():
            sync(device)
            start = time.perf_counter()
            run()
            sync(device)
            best[name] = min(best[name], time.perf_counter() - start)
    return best

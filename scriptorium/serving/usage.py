"""Per-caller accounting of tokens and latency, summed from the server's own `usage` figures."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["CallerUsage", "UsageLedger"]


@dataclass
class CallerUsage:
    """Totals for one caller (an agent, a step, a bench loop)."""

    requests: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    latency_s: float = 0.0
    """Wall time of successful requests, retries and backoff included."""
    failures: int = 0

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class UsageLedger:
    """Accounting for every caller of one client. Not thread-safe: one event loop owns it."""

    callers: dict[str, CallerUsage] = field(default_factory=dict)

    def record(self, caller: str, *, prompt_tokens: int, completion_tokens: int, latency_s: float) -> None:
        entry = self.callers.setdefault(caller, CallerUsage())
        entry.requests += 1
        entry.prompt_tokens += prompt_tokens
        entry.completion_tokens += completion_tokens
        entry.latency_s += latency_s

    def record_failure(self, caller: str) -> None:
        self.callers.setdefault(caller, CallerUsage()).failures += 1

    def total(self) -> CallerUsage:
        out = CallerUsage()
        for entry in self.callers.values():
            out.requests += entry.requests
            out.prompt_tokens += entry.prompt_tokens
            out.completion_tokens += entry.completion_tokens
            out.latency_s += entry.latency_s
            out.failures += entry.failures
        return out

"""The width rules every attention module shares: channel checks and hidden widths.

Zero-width rule: a reduction-based module's hidden width is ``max(min_hidden, C // r)``, with
``min_hidden=1`` by default, so no module silently builds a ``Linear(3, 0)``; ``min_hidden=0``
asks for the paper's exact ``C // r`` and raises ``ValueError`` with the fix when that is 0
(see ``docs/zoo.md``). `make_divisible` is the rounding rule of timm's ``layers/helpers.py``.
"""
from __future__ import annotations

__all__ = ["check_channels", "hidden_width", "make_divisible"]


def check_channels(module: str, channels: int) -> None:
    """Raise ``ValueError`` unless `channels` is a positive int."""
    if not isinstance(channels, int) or isinstance(channels, bool) or channels < 1:
        raise ValueError(f"{module}(channels={channels!r}): channels must be a positive int (the C of (B,C,H,W))")


def hidden_width(
    module: str,
    channels: int,
    reduction: float,
    min_hidden: int = 1,
    knob: str = "reduction",
    min_knob: str = "min_hidden",
    fix: str | None = None,
) -> int:
    """Hidden width ``max(min_hidden, int(channels // reduction))``, never zero.

    Args:
        module: module name used in the error message.
        channels: input channels C.
        reduction: reduction ratio r (> 0).
        min_hidden: lower clamp; 0 means no clamp (paper-exact ``C // r``).
        knob: the argument name reported for `reduction` in error messages.
        min_knob: the argument name reported for `min_hidden` in error messages.
        fix: the fix named by the zero-width error (default: raise `knob` or `min_knob`).

    Returns:
        The hidden width (>= 1).

    Raises:
        ValueError: on a non-positive `reduction`, a negative `min_hidden`, or a zero width.
    """
    check_channels(module, channels)
    if reduction <= 0:
        raise ValueError(f"{module}(channels={channels}, {knob}={reduction}): {knob} must be > 0")
    if min_hidden < 0:
        raise ValueError(f"{module}({min_knob}={min_hidden}): {min_knob} must be >= 0")
    width = max(int(min_hidden), int(channels // reduction))
    if width < 1:
        raise ValueError(
            f"{module}(channels={channels}, {knob}={reduction}) gives a 0-wide hidden layer "
            f"({channels} // {reduction} = 0, a zero-width layer); use {fix or f'{knob}<={channels} or {min_knob}>=1'}"
        )
    return width


def make_divisible(v: float, divisor: int = 8, min_value: int | None = None, round_limit: float = 0.9) -> int:
    """Round `v` to a multiple of `divisor` (at least `min_value`), never below `round_limit * v`."""
    min_value = min_value or divisor
    new_v = max(min_value, int(v + divisor / 2) // divisor * divisor)
    if new_v < round_limit * v:
        new_v += divisor
    return new_v

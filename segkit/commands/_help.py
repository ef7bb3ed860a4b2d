"""How ``segkit ... --help`` prints: defaults shown, descriptions and examples kept as written."""
from __future__ import annotations

import argparse
import textwrap

__all__ = ["HelpFormatter", "use_formatter"]


class HelpFormatter(argparse.HelpFormatter):
    """Adds ``(default: X)`` to an option's help when it has a real default the help does not state.

    No default, ``False`` (a flag) and ``[]`` (a repeatable option) add nothing, so the help
    does not fill up with ``(default: None)``. In descriptions and epilogs each line is wrapped
    on its own and an indented line (an example command) is kept as written.
    """

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        lines = []
        for line in text.splitlines():
            if not line.strip() or line.startswith(" "):
                lines.append(indent + line)
            else:
                lines += textwrap.wrap(line, width, initial_indent=indent, subsequent_indent=indent)
        return "\n".join(lines)

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        default = action.default
        if (not action.option_strings or "default" in text.lower() or default is argparse.SUPPRESS
                or default is None or default is False or default == []):
            return text
        shown = ",".join(map(str, default)) if isinstance(default, (list, tuple)) else "%(default)s"
        return f"{text} (default: {shown})" if text else f"(default: {shown})"


def use_formatter(parser: argparse.ArgumentParser) -> None:
    """Give `parser` and every subcommand parser below it `HelpFormatter`."""
    parser.formatter_class = HelpFormatter
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub in dict.fromkeys(action.choices.values()):  # aliases map to the same parser
                use_formatter(sub)

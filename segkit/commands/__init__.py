"""Subcommands of the ``segkit`` CLI, one module per area (see ``segkit.cli``).

Each module defines ``add_commands(subparsers)`` and imports the library lazily inside its
command functions, so building the parser does not import torch.
"""

"""The `bert-int8` command: `main` runs it (cli/commands.py), `build_parser` reads its
arguments (cli/parser.py)."""

from bert_int8.cli.commands import main, resolve_model  # noqa: F401 (the command's entry point, for callers)
from bert_int8.cli.parser import build_parser  # noqa: F401

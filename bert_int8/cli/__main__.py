"""`python -m bert_int8.cli`: the `bert-int8` command."""

from bert_int8.cli.commands import main

main()

"""``python -m llmtrail.cli``."""

from llmtrail.cli import main

main()

"""``python -m reclake.config``: print the configuration reference (docs/configuration.md)."""

from reclake.config.reference import reference_markdown

print(reference_markdown(), end="")

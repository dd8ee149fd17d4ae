"""Every option of a run, declared once: the configuration dataclasses, presets and column types.

This layer imports nothing heavy, so the command line can build its options without torch."""

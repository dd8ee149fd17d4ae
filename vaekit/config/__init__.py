"""Every option of a run, declared once: what an option is (``options``), the configuration dataclasses
whose fields declare them (``configs``), presets and the imputation defaults, and column types.

This layer imports nothing heavy, so the command line can build its options without torch."""

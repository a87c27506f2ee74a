"""One module per external format, each with ``parse(...)`` and/or ``dump(...)``."""

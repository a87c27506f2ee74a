"""Getting records out: exports in standard formats, filtered by TLP (feeds and partner sharing build on it)."""

"""Taking public vulnerability data in: readers for every input layout and the import pipeline."""

"""The `clearinghouse` command line (Typer + Rich). Commands are thin: they call the store and pipelines."""

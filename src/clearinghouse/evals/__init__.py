"""Cyber-capability evaluations (Inspect tasks, sandboxes, challenge generators)."""

# Registers the `bwrap` sandbox with Inspect; the CTF tasks name it and must never fall back to `local`.
from clearinghouse.evals import sandbox as sandbox

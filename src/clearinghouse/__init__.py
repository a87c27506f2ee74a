"""Clearinghouse: an AI cybersecurity clearinghouse (vulnerability records, intake, frontier review, cyber evals)."""

__version__ = "0.1.0"

"""Offline token counting: Inspect estimates tokens with tiktoken's `o200k_base`, whose merge table tiktoken
downloads on first use; with no network that download fails and so does every eval (even `mockllm/model`).

When the real table is not already in tiktoken's cache, `install_offline_tokenizer()` registers a locally
built stand-in under that name: a byte-level BPE (all 256 bytes plus merges of every pair of letters, digits
and space) with o200k's split pattern. It needs no file at all and nothing is downloaded. Its counts run
roughly 1.5-2x the real ones; Inspect only uses them as estimates (compaction triggers, token limits before a
model reports usage), and overcounting is the safe side there. If the real table is cached (e.g. pre-seeded
with TIKTOKEN_CACHE_DIR), it is used and this does nothing.
"""

from __future__ import annotations

import hashlib
import os
import string
import tempfile
import threading
from pathlib import Path

__all__ = ["ENCODING_NAME", "install_offline_tokenizer", "real_encoding_cached"]

ENCODING_NAME = "o200k_base"
_BLOB_URL = "https://openaipublic.blob.core.windows.net/encodings/o200k_base.tiktoken"
_lock = threading.Lock()
_installed = False


def _cache_dir() -> Path | None:
    # mirrors tiktoken.load.read_file_cached
    for var in ("TIKTOKEN_CACHE_DIR", "DATA_GYM_CACHE_DIR"):
        if var in os.environ:
            value = os.environ[var]
            return Path(value) if value else None
    return Path(tempfile.gettempdir()) / "data-gym-cache"


def real_encoding_cached() -> bool:
    cache = _cache_dir()
    if cache is None:
        return False
    return (cache / hashlib.sha1(_BLOB_URL.encode()).hexdigest()).is_file()  # noqa: S324 - tiktoken's cache key


def _mergeable_ranks() -> dict[bytes, int]:
    ranks = {bytes([b]): b for b in range(256)}
    alphabet = (string.ascii_letters + string.digits + " ").encode()
    for first in alphabet:
        for second in alphabet:
            ranks[bytes([first, second])] = len(ranks)
    return ranks


def install_offline_tokenizer() -> bool:
    """Make `tiktoken.get_encoding("o200k_base")` work without network; True if the stand-in was installed."""
    global _installed
    with _lock:
        if _installed:
            return True
        if real_encoding_cached():
            return False
        import tiktoken
        import tiktoken.registry
        import tiktoken_ext.openai_public as public  # type: ignore[import-untyped]

        if ENCODING_NAME in tiktoken.registry.ENCODINGS:
            return False  # already loaded for real in this process
        # o200k_base() would download the table; its split pattern is only reachable through the same call,
        # so the pattern is taken from a constructor call with the loader stubbed out.
        original = public.load_tiktoken_bpe
        public.load_tiktoken_bpe = lambda *_args, **_kwargs: {}
        try:
            pat_str = str(public.o200k_base()["pat_str"])
        finally:
            public.load_tiktoken_bpe = original
        ranks = _mergeable_ranks()
        encoding = tiktoken.Encoding(
            name=ENCODING_NAME,
            pat_str=pat_str,
            mergeable_ranks=ranks,
            special_tokens={str(public.ENDOFTEXT): len(ranks), str(public.ENDOFPROMPT): len(ranks) + 1},
        )
        with tiktoken.registry._lock:
            tiktoken.registry.ENCODINGS.setdefault(ENCODING_NAME, encoding)
        _installed = True
        return True

"""`clearinghouse feeds`: the feeds as static files, for a web server or a mirror."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from clearinghouse.cli import render
from clearinghouse.config import Settings
from clearinghouse.feeds.csaf_provider import CsafProvider
from clearinghouse.feeds.signing import Signer
from clearinghouse.policy import ANONYMOUS
from clearinghouse.store.db import open_engine
from clearinghouse.store.records import RecordStore

feeds_app = typer.Typer(help="The feeds (OSV API, CSAF provider, TAXII) as static files.", no_args_is_help=True)
console = render.console()


@feeds_app.command("csaf-build")
def csaf_build(
    out: Annotated[Path, typer.Option("--out", "-o", help="Directory to write the provider tree into")],
    base_url: Annotated[
        str, typer.Option(help="Where the tree will be served (its `.well-known/csaf/` is OUT)")
    ] = "http://127.0.0.1:8000",
) -> None:
    """Write the public CSAF 2.0 provider tree (what anyone may read: TLP:CLEAR, released records), signed with
    the provider's key in CLEARINGHOUSE_HOME, as `GET /.well-known/csaf/...` serves it."""
    settings = Settings.from_env()
    provider = CsafProvider(RecordStore(open_engine(settings, create=False)), Signer(settings.home))
    written = provider.build(ANONYMOUS, out, base_url)
    documents = sum(1 for _ in out.glob("*/[0-9]*/*.json"))
    console.print(f"wrote the CSAF provider tree to {out}: {', '.join(written)} ({documents} documents)")

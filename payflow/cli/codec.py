"""`payflow codec …`: payload encryption keys and the insurance-number search hash, for operators."""

from __future__ import annotations

from typing import Annotated

import typer

from infra.codec import new_key_entry
from infra.settings import get_settings
from workflows.search_attributes import INSURANCE_NUMBER_HASHES, insurance_number_hash

codec_app = typer.Typer(help="Payload encryption keys and the insurance-number search hash.")


@codec_app.command("new-key")
def new_key(key_id: Annotated[str, typer.Argument(help="the new key's id, e.g. 2026-07")]) -> None:
    """Print a new `id:base64key` entry: put it first in PAYFLOW_CODEC_KEYS to rotate (old keys stay
    after it until no retained history needs them)."""
    typer.echo(new_key_entry(key_id))


@codec_app.command("insurance-hash")
def insurance_hash(number: str) -> None:
    """The visibility query (keyed hash of the number, PAYFLOW_SEARCH_HASH_KEY) that finds an insurance
    number's payment intents in the Temporal UI or with `temporal workflow list --query`."""
    secret = get_settings().search_hash_key
    if not secret:
        typer.echo("error: PAYFLOW_SEARCH_HASH_KEY is not set", err=True)
        raise typer.Exit(2)
    typer.echo(f"{INSURANCE_NUMBER_HASHES.name} = '{insurance_number_hash(secret, number)}'")

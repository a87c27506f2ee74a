"""The audit log's signed checkpoint, published for outside parties to keep (as transparency logs do)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field

from clearinghouse.store.audit import AuditLog

router = APIRouter(prefix="/api/v1", tags=["audit"])


class SignedCheckpoint(BaseModel):
    seq: int = Field(description="The head link's number (before links: entries in the legacy chain)")
    head: str = Field(description="The head link's HMAC (before links: the last entry's), hex")
    leaves: int | None = Field(None, description="Entries the links up to the head link seal (None before links)")
    at: str = Field(description="When it was signed (UTC)")
    signature: str = Field(description="Ed25519 signature, base64, over the line-separated fields (see README)")


class CheckpointAnswer(BaseModel):
    checkpoint: SignedCheckpoint
    public_key: str = Field(description="The Ed25519 public key, raw 32 bytes in base64")


@router.get(
    "/audit/checkpoint",
    response_model=CheckpointAnswer,
    description="The latest signed checkpoint of the audit log and the key that signs it. Keep them: "
    "`clearinghouse audit verify --checkpoint FILE` then proves no entry up to it was removed or rewritten. "
    "It names no entry's content. **Access:** anyone.",
)
def checkpoint(request: Request) -> CheckpointAnswer:
    audit: AuditLog = request.app.state.audit
    signed = audit.checkpoint()
    return CheckpointAnswer(checkpoint=SignedCheckpoint(**signed.as_json()), public_key=audit.keys.public_key_base64())

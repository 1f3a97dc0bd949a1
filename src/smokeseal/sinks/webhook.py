"""Any webhook: the seal record as JSON, signed the way GitHub signs its webhooks.

One POST per seal. The body is ``{"event": "seal", "release": {…}, "seal": {…}}`` (the
release as ``/api/releases/{id}`` shows it, and the seal as its history keeps it, with its
``id``); ``X-Smokeseal-Signature: sha256=<hex>`` is the HMAC-SHA256 of the exact body bytes
with the configured secret; ``X-Smokeseal-Delivery`` is fixed when the message is queued, so
a retry carries the same id and the receiver can drop a repeat.

2xx is delivered; 410 (the receiver is gone), a redirect (never followed: the signed body
would go where the config does not say) and other 4xx fail for good; 408, 429 (with
``Retry-After``), 5xx and connection errors are retried.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from typing import Any

import httpx

from smokeseal.config import App, Webhook
from smokeseal.errors import SinkError
from smokeseal.ledger import Message, NewMessage, Release
from smokeseal.seal import Seal
from smokeseal.sinks.base import Sink, error_text, raise_for_answer

__all__ = ["EVENT", "WebhookSink", "body_bytes", "messages_for_seal", "signature"]

EVENT = "seal"


def messages_for_seal(app: App, release: Release, seal: Seal) -> list[NewMessage]:
    if app.notify.webhook is None:
        return []
    # The release as it is when sealed: its previous seal is not this one's news.
    shown = {k: v for k, v in release.to_dict().items() if k != "smoke_seal"}
    return [NewMessage("webhook", "seal", "seal:{seal_id}:webhook:seal",
                       {"delivery": str(uuid.uuid4()), "release": shown,
                        "seal": seal.to_dict()})]


def body_bytes(message: Message) -> bytes:
    """The exact bytes sent (and signed): keys sorted, so both ledgers give the same."""
    seal = {"id": message.seal_id, **message.payload["seal"]}
    record = {"event": EVENT, "release": message.payload["release"], "seal": seal}
    return json.dumps(record, ensure_ascii=False, sort_keys=True,
                      separators=(",", ":")).encode("utf-8")


def signature(secret: str, body: bytes) -> str:
    """``sha256=<hex>``: what ``X-Smokeseal-Signature`` carries."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


class WebhookSink(Sink):
    name = "webhook"

    def __init__(self, settings: Webhook) -> None:
        self.settings = settings

    def send(self, client: httpx.Client, message: Message,
             before: Message | None) -> dict[str, Any]:
        body = body_bytes(message)
        delivery = str(message.payload["delivery"])
        response = client.post(self.settings.url.get_secret_value(), content=body, headers={
            "Content-Type": "application/json",
            "X-Smokeseal-Event": EVENT,
            "X-Smokeseal-Delivery": delivery,
            "X-Smokeseal-Signature": signature(self.settings.secret.get_secret_value(), body),
        })
        status = response.status_code
        what = "posting the seal"
        if status == 410:
            raise SinkError(f"webhook: {what}: the receiver is gone (410){error_text(response)}",
                            permanent=True)
        if response.is_redirect:
            raise SinkError(f"webhook: {what}: redirected ({status}); redirects are not "
                            "followed: set url to where it points", permanent=True)
        raise_for_answer("webhook", what, response)
        return {"delivery": delivery, "status": status}

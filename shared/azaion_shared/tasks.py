"""Work items for the augmentor, published by the ingestor on a durable RabbitMQ queue.

A task names an annotation and what happened to it in ``data/``: ``upsert``
(created, edited or validated: (re)generate its variants) or ``delete``
(remove its processed files). Tasks are idempotent, so a replay is harmless.
"""

from __future__ import annotations

import json
from typing import Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from azaion_shared.errors import MessageDecodeError
from azaion_shared.messages import Name

DEFAULT_QUEUE = "azaion-augment"

Action = Literal["upsert", "delete"]


class AugmentTask(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")

    name: Name
    action: Action


def encode_task(task: AugmentTask) -> bytes:
    return json.dumps({"name": task.name, "action": task.action}).encode()


def decode_task(body: bytes) -> AugmentTask:
    try:
        return AugmentTask.model_validate_json(body)
    except (ValidationError, ValueError) as exc:
        raise MessageDecodeError(f"not an augment task: {str(exc)[:200]}") from exc

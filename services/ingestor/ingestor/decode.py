"""From the raw bytes rstream delivers to a validated message, or to the reason it is refused."""

from __future__ import annotations

from dataclasses import dataclass

from rstream import amqp_decoder

from azaion_shared.errors import MessageDecodeError
from azaion_shared.messages import Message, decode_message, status_from_properties
from ingestor.amqp_check import AmqpFormatError, check_message


@dataclass(frozen=True)
class Decoded:
    offset: int
    raw: bytes
    message: Message | None
    reason: str | None = None


def decode_incoming(offset: int, raw: bytes) -> Decoded:
    """Never raises: a message that cannot be decoded carries its reason instead."""
    try:
        check_message(raw)
        envelope = amqp_decoder(raw)
    except AmqpFormatError as exc:
        return Decoded(offset, raw, None, f"not an AMQP 1.0 message: {exc}")
    except Exception as exc:  # rstream's decoder raises anything on a payload that is not AMQP 1.0
        return Decoded(offset, raw, None, f"not an AMQP 1.0 message ({type(exc).__name__}: {str(exc)[:200]})")
    try:
        status = status_from_properties(envelope.application_properties)
        body = envelope.body
        if isinstance(body, list):  # several data sections: rstream keeps only the last, so refuse
            return Decoded(offset, raw, None, "message body has several sections; expected one msgpack body")
        return Decoded(offset, raw, decode_message(body, status))
    except MessageDecodeError as exc:
        return Decoded(offset, raw, None, str(exc))
    except Exception as exc:  # anything odd in the envelope itself
        return Decoded(offset, raw, None, f"malformed AMQP message ({type(exc).__name__}: {str(exc)[:200]})")

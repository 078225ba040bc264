"""`make demo`: run the end-to-end path that exists so far, on this machine.

Stages are added as the services land. Today: annotations made from real
photographs (ultralytics' sample images) go through the real broker in the
wire format, are decoded, their boxes corrected, and the pairs written
atomically into a demo data root.
"""

from __future__ import annotations

import asyncio
import os
import shutil
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def sample_images() -> list[Path]:
    import ultralytics

    assets = Path(ultralytics.__file__).parent / "assets"
    return sorted(assets.glob("*.jpg"))


# Boxes drawn by hand on ultralytics' two sample photographs (class ids from the demo class list).
SAMPLE_BOXES = {
    "bus": [(1, 0.49, 0.48, 0.95, 0.50), (0, 0.13, 0.66, 0.22, 0.42), (0, 0.32, 0.64, 0.16, 0.41)],
    "zidane": [(0, 0.34, 0.62, 0.45, 0.75), (0, 0.78, 0.55, 0.38, 0.88), (2, 0.58, 0.99, 0.10, 0.08)],
}


async def stream_stage(root: Path, stream: str) -> dict[str, int]:
    from rstream import AMQPMessage, Consumer, ConsumerOffsetSpecification, OffsetType, Producer, amqp_decoder

    from azaion_shared.atomic import atomic_write_bytes, atomic_write_text
    from azaion_shared.boxes import correct_boxes
    from azaion_shared.labels import Box, format_labels
    from azaion_shared.messages import (
        Annotation,
        Detection,
        MessageDecodeError,
        application_properties,
        decode_message,
        encode_body,
        status_from_properties,
    )
    from azaion_shared.paths import DataRoot

    data_root = DataRoot(root).ensure()
    creds = dict(username="guest", password="guest", frame_max=8 * 1024 * 1024)
    host, port = (
        os.environ.get("AZAION_RABBIT__HOST", "localhost"),
        int(os.environ.get("AZAION_RABBIT__STREAM_PORT", "5552")),
    )
    sent = 0
    async with Producer(host, port, **creds) as producer:
        await producer.delete_stream(stream, missing_ok=True)
        await producer.create_stream(stream)
        for path in sample_images():
            detections = tuple(
                Detection(class_num=c, center_x=x, center_y=y, width=w, height=h)
                for c, x, y, w, h in SAMPLE_BOXES.get(path.stem, [])
            )
            msg = Annotation(name=path.stem, image=path.read_bytes(), detections=detections, role="Operator")
            await producer.send_wait(
                stream, AMQPMessage(body=encode_body(msg), application_properties=application_properties(msg))
            )
            sent += 1
        # One malformed message, to show it is refused with a reason instead of crashing anything.
        await producer.send_wait(
            stream, AMQPMessage(body=b"\xc1 not msgpack", application_properties={"AnnotationStatus": "Created"})
        )
        sent += 1

    counts = {"sent": sent, "written": 0, "rejected": 0, "boxes_dropped": 0}
    done = asyncio.Event()

    async def on_message(raw: bytes, ctx) -> None:
        try:
            envelope = amqp_decoder(raw)
            msg = decode_message(envelope.body, status_from_properties(envelope.application_properties))
        except Exception as exc:  # the demo shows the reason; the ingestor stores it in data-rejected/
            reason = exc if isinstance(exc, MessageDecodeError) else f"not an AMQP 1.0 message: {exc}"
            atomic_write_text(data_root.rejected / f"{ctx.offset}.reason.txt", f"{reason}\n")
            atomic_write_bytes(data_root.rejected / f"{ctx.offset}.bin", raw)
            counts["rejected"] += 1
        else:
            boxes = [Box(d.class_num, d.center_x, d.center_y, d.width, d.height) for d in msg.detections]
            kept = correct_boxes(boxes)
            counts["boxes_dropped"] += len(boxes) - len(kept)
            atomic_write_bytes(data_root.seed.image(msg.name), msg.image)
            atomic_write_text(data_root.seed.label(msg.name), format_labels(kept))
            counts["written"] += 1
        if counts["written"] + counts["rejected"] == sent:
            done.set()

    async with Consumer(host, port, **creds) as consumer:
        await consumer.start()
        await consumer.subscribe(
            stream,
            on_message,
            offset_specification=ConsumerOffsetSpecification(OffsetType.FIRST, None),
            initial_credit=2,
        )
        await asyncio.wait_for(done.wait(), timeout=60)
    async with Producer(host, port, **creds) as producer:
        await producer.delete_stream(stream, missing_ok=True)
    return counts


def main() -> int:
    root = Path(os.environ.get("DEMO_ROOT", REPO / ".run" / "demo"))
    if root.exists():
        shutil.rmtree(root)  # idempotent: every run starts from an empty demo root
    started = time.perf_counter()
    counts = asyncio.run(stream_stage(root, "azaion-demo"))
    elapsed = time.perf_counter() - started
    print("\n=== demo summary ===")
    print(
        f"stream stage: {counts['sent']} messages sent, {counts['written']} annotations written, "
        f"{counts['rejected']} rejected with a reason, {counts['boxes_dropped']} degenerate boxes dropped "
        f"({elapsed:.1f} s)"
    )
    print(f"outputs: {root / 'data-seed'} (image + label pairs), {root / 'data-rejected'} (refused messages)")
    print("later stages (ingestor service, augmentor, trainer, inference) are added as their issues land")
    return 0 if counts["written"] == counts["sent"] - 1 and counts["rejected"] == 1 else 1


if __name__ == "__main__":
    sys.exit(main())

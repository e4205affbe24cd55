"""The one place in the gateway that encodes an image: JPEG previews for the local commissioning page.

Only the commissioning page's HTTP handler calls this, only for a logged-in browser on the page's
local address; nothing here can reach MQTT, the outbox or the disk (tests/unit/test_architecture.py
holds both). The frame is the analysis frame, its masks already black; person boxes are drawn on a
copy and the masks are blacked out once more afterwards, so no box or label ever lights a masked pixel.
"""

from __future__ import annotations

import cv2
import numpy as np

from gateway.commissioning.views import Snapshot
from gateway.vision.regions import Regions

JPEG_QUALITY = 85  # sharp enough to aim a camera; a 320 x 240 frame is ~15 kB
GREEN, RED = (60, 220, 60), (40, 40, 255)  # BGR
FALLING = 0.5  # the fall model's default threshold (FallSettings.threshold): boxes above it turn red


def jpeg(snapshot: Snapshot, regions: Regions) -> bytes:
    """The snapshot's frame with person boxes, masks black, as JPEG bytes."""
    image = np.ascontiguousarray(snapshot.frame.image).copy()
    height, width = image.shape[:2]
    for person in snapshot.people:
        x0, y0, x1, y1 = person.box
        colour = RED if (person.probability or 0.0) >= FALLING else GREEN
        top_left, bottom_right = (
            (round(x0 * width), round(y0 * height)),
            (round(x1 * width), round(y1 * height)),
        )
        cv2.rectangle(image, top_left, bottom_right, colour, 1)
        label = (
            f"#{person.track}" if person.probability is None else f"#{person.track} {person.probability:.2f}"
        )
        cv2.putText(
            image, label, (top_left[0], max(8, top_left[1] - 3)), cv2.FONT_HERSHEY_PLAIN, 0.8, colour, 1
        )
    regions.black_out(image)
    ok, encoded = cv2.imencode(".jpg", image, [cv2.IMWRITE_JPEG_QUALITY, JPEG_QUALITY])  # noqa: TID251 - local page only
    if not ok:
        raise ValueError(f"cannot encode a {width}x{height} preview")
    return bytes(encoded)

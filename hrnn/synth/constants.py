"""The generator's fixed shapes and the Interactions schema it writes, in one place so that the stages and
:func:`~hrnn.synth.sizing.expected_rows_per_user` cannot disagree."""

from __future__ import annotations

import pyarrow as pa

START_TIMESTAMP = 1_704_067_200  # 2024-01-01T00:00:00Z
DAY = 86_400
MIN_SESSION_GAP_SECONDS = 3600  # end of one session to the start of the user's next one, at least
MAX_INTRA_GAP_SECONDS = 25 * 60  # between consecutive events of a session, at most
INTRA_GAP_MEDIAN_SECONDS = 35.0
INTRA_GAP_SIGMA = 1.1
PRIMARY_TOPIC_PROB = 0.65
SESSIONS_SIGMA = 1.0
ITEM_ZIPF = 1.0
TOPIC_ZIPF = 0.8
N_START_ITEMS = 3
PRICE_MEDIAN = 20.0
PRICE_SIGMA = 0.8

SCHEMA = pa.schema(
    [
        pa.field("USER_ID", pa.string(), nullable=False),
        pa.field("ITEM_ID", pa.string(), nullable=False),
        pa.field("TIMESTAMP", pa.int64(), nullable=False),
        pa.field("EVENT_TYPE", pa.string(), nullable=False),
        pa.field("EVENT_VALUE", pa.float64(), nullable=True),
    ]
)
EVENT_TYPES = ("click", "purchase")

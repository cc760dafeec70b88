"""While Postgres does not answer, the codec keeps sealing and opening what it can without it:
keys it has read stay in use, and a workflow that needs a new key gets the shared one (so the
API keeps accepting commands through Temporal during an outage, as it did before the codec)."""

from __future__ import annotations

import time

from temporalio.api.common.v1 import Payload

from application.privacy.codec import KEY_METADATA, SealingCodec
from application.privacy.master import MasterKeys
from application.privacy.payload_keys import PayloadKeys
from tests.support.postgres import PostgresServer
from worker.secret_transit import DEV_MASTER_KEY

PLAIN = Payload(metadata={"encoding": b"json/plain"}, data=b'{"first_name": "Ada"}')


async def test_an_outage_keeps_read_keys_and_falls_back_to_the_shared_key(
    pg_server: PostgresServer, migrated_template: str
) -> None:
    name = pg_server.create_database(template=migrated_template)
    # ttl 0: every call would read the database again, so the outage shows at once.
    keys = PayloadKeys.connect(pg_server.url(name), MasterKeys(DEV_MASTER_KEY), ttl=0.0, wait=1.0)
    try:
        before = await SealingCodec(keys, "execution-before").encode([PLAIN])
        shared_before = await SealingCodec(keys, "definition-create-1").encode([PLAIN])
        assert before[0].metadata[KEY_METADATA] != shared_before[0].metadata[KEY_METADATA]

        pg_server.drop_database(name)  # the database is gone: every connection is refused

        started = time.monotonic()
        during = await SealingCodec(keys, "execution-during").encode([PLAIN])
        assert time.monotonic() - started < 10
        # A new workflow is sealed with the shared key, never left in clear.
        assert during[0].metadata[KEY_METADATA] == shared_before[0].metadata[KEY_METADATA]
        assert b"Ada" not in during[0].SerializeToString()
        # The calls right after it take the fallback without waiting again (a start encodes its
        # input and each memo field apart: one wait each outlasted a client's patience).
        started = time.monotonic()
        for n in range(4):
            also = await SealingCodec(keys, f"execution-also-{n}").encode([PLAIN])
            assert also[0].metadata[KEY_METADATA] == shared_before[0].metadata[KEY_METADATA]
        assert time.monotonic() - started < 0.5
        # What was sealed before still opens, and the workflow keeps its own key.
        reader = SealingCodec(keys)
        assert [p.data for p in await reader.decode([*before, *during])] == [PLAIN.data] * 2
        again = await SealingCodec(keys, "execution-before").encode([PLAIN])
        assert again[0].metadata[KEY_METADATA] == before[0].metadata[KEY_METADATA]
    finally:
        await keys.close()

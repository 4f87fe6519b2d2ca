"""A client polling with added_after while others write concurrently misses and repeats nothing.

This is the property many TAXII servers get wrong: they stamp date_added before commit, so a
slow transaction can commit an object *older* than one a poller has already passed.
"""

from __future__ import annotations

import threading
import time

import httpx

from tests import factories as f
from tests.factories import TAXII
from tests.sharing.conftest import World

WRITERS = 4
ENVELOPES = 12
PER_ENVELOPE = 15


def test_polling_reader_sees_every_object_exactly_once(live: str, world: World) -> None:
    url = f"{live}/taxii2/hub/collections/{world.collection_id}/objects/"
    sent: list[str] = []
    sent_lock = threading.Lock()
    errors: list[str] = []

    def writer(n: int) -> None:
        token = world.tokens["alice" if n % 2 else "bob"]
        with httpx.Client(timeout=60) as client:
            for e in range(ENVELOPES):
                objects = [
                    f.indicator(value=f"198.51.{n}.{e * PER_ENVELOPE + i}")
                    for i in range(PER_ENVELOPE)
                ]
                response = client.post(
                    url,
                    content=f.envelope(*objects),
                    headers={
                        "Accept": TAXII,
                        "Content-Type": TAXII,
                        "Authorization": f"Bearer {token}",
                    },
                )
                if response.status_code != 202 or response.json()["failure_count"]:
                    errors.append(response.text)
                with sent_lock:
                    sent.extend(o["id"] for o in objects)

    seen: list[str] = []
    done = threading.Event()

    def reader() -> None:
        added_after: str | None = None
        headers = {"Accept": TAXII, "Authorization": f"Bearer {world.tokens['alice']}"}
        with httpx.Client(timeout=60) as client:
            final_pass = False
            while True:
                finished = done.is_set()
                params = {"limit": "7"}
                if added_after:
                    params["added_after"] = added_after
                response = client.get(url, params=params, headers=headers)
                assert response.status_code == 200, response.text
                objects = response.json().get("objects", [])
                seen.extend(o["id"] for o in objects)
                if objects:
                    added_after = response.headers["X-TAXII-Date-Added-Last"]
                elif final_pass:
                    return
                elif finished:
                    # One more empty poll after every writer finished.
                    final_pass = True
                else:
                    time.sleep(0.005)

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    poller = threading.Thread(target=reader)
    poller.start()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    done.set()
    poller.join(timeout=120)
    assert not errors
    assert len(sent) == WRITERS * ENVELOPES * PER_ENVELOPE
    assert len(seen) == len(set(seen)), "an object was delivered twice"
    assert set(seen) == set(sent), f"{len(set(sent) - set(seen))} objects were missed"

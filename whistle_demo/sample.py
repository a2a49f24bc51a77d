"""The demo's sample company: an account, four people with a phone each, and an auto attendant.

Dial 2000: the attendant greets the caller; 1 rings the sales ring group (Alice and Bob), 2 rings Carol
(who never answers: the call falls to her voicemail box), 0 rings the operator. Extensions 1100-1103
ring each person directly.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from whistle_cli.accounts import create_account
from whistle_cli.endpoints import create_device, create_user
from whistle_common.store import Store, account_db, init_databases

REALM = "demo.whistle.test"
MAIN_NUMBER = "2000"
PASSWORD = "demo-secret-1"  # every demo phone's SIP password
GREETING = "ivr/ivr-welcome_to_freeswitch.wav"  # a stock FreeSWITCH sound: no media server needed


@dataclass(frozen=True)
class Person:
    first_name: str
    last_name: str
    extension: str
    answers: str  # what their phone does in the demo: "answer", "busy", "no_answer"


PEOPLE = (
    Person("Olive", "Operator", "1100", "answer"),
    Person("Alice", "Sales", "1101", "answer"),
    Person("Bob", "Sales", "1102", "busy"),
    Person("Carol", "Support", "1103", "no_answer"),
)


@dataclass
class SampleAccount:
    """The ids of what :func:`create_sample_account` saved."""

    account_id: str
    realm: str
    users: dict[str, str] = field(default_factory=dict)  # extension -> user id
    devices: dict[str, str] = field(default_factory=dict)  # extension -> device id
    vmboxes: dict[str, str] = field(default_factory=dict)  # extension -> vmbox id
    callflows: dict[str, str] = field(default_factory=dict)  # number -> callflow id


def attendant_flow(sample: SampleAccount, menu_id: str, sales_group: list[dict[str, Any]]) -> dict[str, Any]:
    carol = "1103"
    return {
        "module": "menu",
        "data": {"id": menu_id},
        "children": {
            "1": {
                "module": "ring_group",
                "data": {"endpoints": sales_group, "strategy": "simultaneous", "timeout": 15},
            },
            "2": {
                "module": "user",
                "data": {"id": sample.users[carol], "timeout": 10},
                "children": {"_": {"module": "voicemail", "data": {"id": sample.vmboxes[carol]}}},
            },
            "0": {"module": "device", "data": {"id": sample.devices["1100"], "timeout": 20}},
        },
    }


async def create_sample_account(store: Store, realm: str = REALM) -> SampleAccount:
    """Create the databases (if needed) and the sample account's documents; returns their ids."""
    await init_databases(store)
    sample = SampleAccount(await create_account(store, "Demo Company", realm), realm)
    db = account_db(sample.account_id)
    for person in PEOPLE:
        names = {"first_name": person.first_name, "last_name": person.last_name}
        user_id, callflow_id = await create_user(
            store, sample.account_id, {**names, "username": person.first_name.lower()}, person.extension
        )
        sample.users[person.extension] = user_id
        sample.callflows[person.extension] = str(callflow_id)
        device = {
            "name": f"{person.first_name}'s phone",
            "owner_id": user_id,
            "sip": {"username": person.extension, "password": PASSWORD},
        }
        sample.devices[person.extension], _ = await create_device(store, sample.account_id, device)
        vmbox = {
            "pvt_type": "vmbox",
            "name": f"{person.first_name}'s box",
            "mailbox": person.extension,
            "owner_id": user_id,
        }
        sample.vmboxes[person.extension] = (await store.save(db, vmbox))["_id"]
    menu = {
        "pvt_type": "menu",
        "name": "Main attendant",
        "retries": 2,
        "timeout": 4000,
        "media": {"greeting": GREETING},
    }
    menu_id = (await store.save(db, menu))["_id"]
    sales = [{"id": sample.devices[ext], "endpoint_type": "device"} for ext in ("1101", "1102")]
    attendant = {
        "pvt_type": "callflow",
        "name": "Attendant",
        "numbers": [MAIN_NUMBER],
        "flow": attendant_flow(sample, menu_id, sales),
    }
    sample.callflows[MAIN_NUMBER] = (await store.save(db, attendant))["_id"]
    return sample

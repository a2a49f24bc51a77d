"""What the translation tests share: the Origin they translate for, and the recordings holding calls."""

from whistle_common.api.catalogue import Origin

ORIGIN = Origin("ecallmgr", "ecallmgr@test-host", "ecallmgr-test-queue")
CALL_RECORDINGS = [
    "call-lifecycle-json",
    "call-lifecycle-plain",
    "sip-call-json",
    "sip-call-plain",
    "xml-curl-sip-events-plain",
]

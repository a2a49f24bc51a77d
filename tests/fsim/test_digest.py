"""Digest authentication: RFC 2617's example, an independent implementation, and the recorded REGISTERs."""

from __future__ import annotations

import re
import urllib.request
from urllib.parse import unquote

import pytest

from fsim import digest
from tests.fsim.recordings import FREESWITCH


def test_rfc2617_section_3_5_example():
    credentials = digest.Credentials(
        username="Mufasa",
        realm="testrealm@host.com",
        nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
        uri="/dir/index.html",
        response="6629fae49393a05397450978507c4ef1",
        method="GET",
        qop="auth",
        nc="00000001",
        cnonce="0a4f113b",
    )
    assert digest.ha1("Mufasa", "testrealm@host.com", "Circle Of Life") == "939e7578ed9e3c518a452acee763bce9"
    assert digest.check(credentials, password="Circle Of Life")
    assert not digest.check(credentials, password="Circle of Life")


def test_without_qop_it_agrees_with_urllib_rfc2069_digest():
    """RFC 2069's own example does not reproduce, so urllib's implementation is the reference here."""
    handler = urllib.request.HTTPDigestAuthHandler()
    handler.add_password("testrealm@host.com", "http://host/dir/index.html", "Mufasa", "Circle Of Life")
    request = urllib.request.Request("http://host/dir/index.html")
    challenge = {"realm": "testrealm@host.com", "nonce": "dcd98b7102dd2f0e8b11d0f600bfb0c093"}
    header = handler.get_authorization(request, challenge)
    expected = re.search(r'response="([0-9a-f]+)"', header).group(1)

    answer = digest.answer_challenge(
        "Mufasa", "Circle Of Life", realm="testrealm@host.com", nonce=challenge["nonce"], method="GET",
        uri="/dir/index.html", qop=None,
    )  # fmt: skip
    assert answer.response == expected
    assert (answer.qop, answer.nc, answer.cnonce) == (None, None, None)
    assert digest.check(answer, password="Circle Of Life")


def _recorded_authorizations() -> list[dict[str, str]]:
    """Every Authorization header sipp sent in the recorded REGISTER run."""
    log = (FREESWITCH / "sip-call-sipp-register-messages.log").read_text()
    found = []
    for line in log.splitlines():
        if line.startswith("Authorization: Digest "):
            pairs = re.findall(r'(\w+)=("[^"]*"|[^,]*)', line[len("Authorization: Digest ") :])
            found.append({name: value.strip('"') for name, value in pairs})
    return found


@pytest.mark.parametrize("index", [0, 1], ids=["register", "unregister"])
def test_recomputes_the_recorded_sipp_register_response(index):
    auth = _recorded_authorizations()[index]
    recomputed = digest.answer_challenge(
        "1000", "1234", realm=auth["realm"], nonce=auth["nonce"], method="REGISTER", uri=auth["uri"],
        qop=auth["qop"], nc=int(auth["nc"], 16), cnonce=auth["cnonce"],
    )  # fmt: skip
    assert recomputed.response == auth["response"]


@pytest.mark.parametrize(
    "name", ["xml-curl-directory-request.txt", "xml-curl-directory-request-unregister.txt"]
)
def test_recomputes_the_response_freeswitch_sent_to_the_directory(name):
    body = (FREESWITCH / name).read_bytes().split(b"\r\n\r\n", 1)[1].decode()
    fields = {key: unquote(value) for key, _, value in (pair.partition("=") for pair in body.split("&"))}
    credentials = digest.Credentials(
        username=fields["sip_auth_username"], realm=fields["sip_auth_realm"], nonce=fields["sip_auth_nonce"],
        uri=fields["sip_auth_uri"], response=fields["sip_auth_response"], method=fields["sip_auth_method"],
        qop=fields["sip_auth_qop"], nc=fields["sip_auth_nc"], cnonce=fields["sip_auth_cnonce"],
    )  # fmt: skip
    assert digest.check(credentials, password="1234")
    assert digest.check(credentials, a1_hash=digest.ha1("1000", "127.0.0.1", "1234"))
    assert not digest.check(credentials, password="4321")
    assert not digest.check(credentials, a1_hash=digest.ha1("1000", "127.0.0.1", "4321"))


def test_an_a1_hash_wins_over_the_password_and_case_does_not_matter_in_the_response():
    answer = digest.answer_challenge(
        "1000", "1234", realm="example.com", nonce="n", method="REGISTER", uri="sip:x"
    )
    assert digest.check(answer, password="wrong", a1_hash=digest.ha1("1000", "example.com", "1234"))
    shouted = digest.Credentials(**{**answer.__dict__, "response": answer.response.upper()})
    assert digest.check(shouted, password="1234")


def test_the_authorization_header_has_sipps_parameter_order():
    answer = digest.answer_challenge(
        "1000", "1234", realm="127.0.0.1", nonce="f93251e7-da05-4c3d-8325-053060579ad7", method="REGISTER",
        uri="sip:127.0.0.1:5060", cnonce="6b8b4567",
    )  # fmt: skip
    assert answer.header() == (
        'Digest username="1000",realm="127.0.0.1",cnonce="6b8b4567",nc=00000001,qop=auth,'
        'uri="sip:127.0.0.1:5060",nonce="f93251e7-da05-4c3d-8325-053060579ad7",'
        'response="b6d04b91ae2e0c9c4047c86eb94cbbe6",algorithm=MD5'
    )

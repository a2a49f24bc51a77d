"""ecallmgr.esl.parser: framing, per-value decoding, limits, against the real FreeSWITCH recordings."""

from __future__ import annotations

from functools import cache
from urllib.parse import quote, unquote

import orjson
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from ecallmgr.esl.parser import Frame, FrameError, FrameParser, Headers, parse_header_block, percent_decode
from tests.fsim.recordings import FREESWITCH, events, messages, recording

RECORDINGS = sorted(path.name.removesuffix(".fs-to-app.raw") for path in FREESWITCH.glob("*.fs-to-app.raw"))
SMALL = ["esl-wrong-password", "esl-event-lock", "esl-myevents-linger", "esl-outbound-sync", "esl-log"]


@cache
def parsed(name: str) -> list[Frame]:
    return FrameParser().feed(recording(name))


def fs_encode(value: str) -> str:
    """Roughly switch_url_encode: what FreeSWITCH does to plain-event values."""
    return quote(value, safe=",/()'!*$-_.~")


def plain_event(headers: list[tuple[str, str]], body: bytes | None = None) -> bytes:
    inner = "".join(f"{name}: {fs_encode(value)}\n" for name, value in headers).encode()
    if body is not None:
        inner += f"Content-Length: {len(body)}\n\n".encode() + body
    else:
        inner += b"\n"
    return f"Content-Length: {len(inner)}\nContent-Type: text/event-plain\n\n".encode() + inner


def chunked(data: bytes, cuts: list[int]) -> list[bytes]:
    points = sorted({cut % (len(data) + 1) for cut in cuts})
    return [data[a:b] for a, b in zip([0, *points], [*points, len(data)], strict=True)]


def feed_all(parser: FrameParser, chunks: list[bytes]) -> list[Frame]:
    return [frame for chunk in chunks for frame in parser.feed(chunk)]


@pytest.mark.parametrize("name", RECORDINGS)
def test_every_recorded_stream_parses_completely_into_its_messages(name):
    parser = FrameParser()
    frames = parser.feed(recording(name))
    expected = list(messages(recording(name)))
    assert len(frames) == len(expected)
    assert parser.buffered == 0
    assert [frame.content_type for frame in frames] == [m.content_type or "" for m in expected]
    assert [frame.body for frame in frames] == [m.body for m in expected]


@pytest.mark.parametrize("name", ["call-lifecycle-plain", "call-lifecycle-json", "esl-inbound-session"])
def test_recorded_events_decode_as_the_reference_reader_does(name):
    ours = [frame.event for frame in parsed(name) if frame.event is not None]
    reference = events(name)
    assert [event.name for event in ours] == [event.name for event in reference]
    for mine, theirs in zip(ours, reference, strict=True):
        assert mine.format == theirs.format
        assert dict(mine.headers) == dict(reversed(theirs.headers))  # first value wins, reference: last
        if theirs.body is not None and mine.format != "xml":
            assert mine.body == theirs.body.decode()


def test_a_percent_0a_in_a_value_never_injects_a_header():
    body = b"Event-Name: CUSTOM\nvariable_sip_h_X-Note: line1%0AInjected-Header%3A%20evil\n\n"
    raw = f"Content-Length: {len(body)}\nContent-Type: text/event-plain\n\n".encode() + body
    [frame] = FrameParser().feed(raw)
    assert frame.event is not None
    assert frame.event["variable_sip_h_X-Note"] == "line1\nInjected-Header: evil"
    assert "Injected-Header" not in frame.event.headers
    assert list(frame.event.headers) == ["Event-Name", "variable_sip_h_X-Note"]


@settings(max_examples=200)
@given(st.text(max_size=60), st.text(max_size=60))
def test_any_encoded_value_round_trips_as_one_header(note, other):
    raw = plain_event([("Event-Name", "CUSTOM"), ("X-Note", note), ("Unique-ID", other)])
    [frame] = FrameParser().feed(raw)
    assert frame.event is not None
    assert dict(frame.event.headers) == {"Event-Name": "CUSTOM", "X-Note": note or "", "Unique-ID": other}


def test_plus_is_not_a_space_and_only_values_are_decoded():
    headers = parse_header_block("A%20B: 1+1%3D2\nEmpty: \nColon: a: b")
    assert headers == {"A%20B": "1+1=2", "Empty": "", "Colon": "a: b"}


def test_repeated_headers_first_value_wins_and_getall_keeps_every_one():
    headers = parse_header_block("X: 1\nY: 2\nX: 3\nX: 4")
    assert headers["X"] == "1"
    assert headers.getall("X") == ["1", "3", "4"]
    assert headers.getall("Y") == ["2"]
    assert headers.getall("Z") == []
    assert isinstance(headers, Headers)


def test_plain_event_with_its_own_body_and_api_response_without_newline():
    raw = plain_event([("Event-Name", "BACKGROUND_JOB"), ("Job-UUID", "j1")], b"+OK abc\n")
    raw += b"Content-Type: api/response\nContent-Length: 7\n\n_undef_"
    job, api = FrameParser().feed(raw)
    assert job.event is not None and job.event.body == "+OK abc\n" and job.event["Job-UUID"] == "j1"
    assert job.event["Content-Length"] == "8"
    assert (api.content_type, api.text, api.event) == ("api/response", "_undef_", None)


def test_json_event_values_are_raw_and_the_body_is_separate():
    body = orjson.dumps({"Event-Name": "BACKGROUND_JOB", "X": "100%25", "_body": "+OK\n"})
    raw = f"Content-Length: {len(body)}\nContent-Type: text/event-json\n\n".encode() + body
    [frame] = FrameParser().feed(raw)
    assert frame.event is not None
    assert frame.event.headers == {"Event-Name": "BACKGROUND_JOB", "X": "100%25"}
    assert frame.event.body == "+OK\n"


def test_a_json_event_parses_the_same_whatever_its_envelope_looks_like():
    """The usual envelope (Content-Length, then Content-Type) takes a fast path; any other spelling of it
    takes the general one: same frame, and the same limit on the body."""
    body = orjson.dumps({"Event-Name": "CHANNEL_ANSWER", "Unique-ID": "u1", "Caller-Caller-ID-Name": "A%20B"})
    usual = f"Content-Length: {len(body)}\nContent-Type: text/event-json\n\n".encode() + body
    other = f"Content-Type: text/event-json\nContent-Length: {len(body)}\n\n".encode() + body
    [fast], [general] = FrameParser().feed(usual), FrameParser().feed(other)
    assert fast.event == general.event and fast.body == general.body == body
    assert fast.headers == {"Content-Length": str(len(body)), "Content-Type": "text/event-json"}
    three = FrameParser().feed(b"\n" + usual + usual + usual)  # with a stray blank line first
    assert [frame.event for frame in three] == [fast.event] * 3
    with pytest.raises(FrameError, match="limit"):
        FrameParser(max_body=len(body) - 1).feed(usual)


@pytest.mark.parametrize(
    "raw",
    [
        b"Content-Length: 12abc\n\n",
        b"Content-Length: -1\n\n",
        b"no colon here\n\n",
        b"Content-Length: 2\nContent-Type: text/event-json\n\n[]",
        b"Content-Length: 3\nContent-Type: text/event-json\n\n{x}",
        b"Content-Length: 3\nContent-Type: text/event-xml\n\n<e>",
        b"Content-Length: 20\nContent-Type: text/event-plain\n\nContent-Length: 9\n\nab",
    ],
)
def test_malformed_frames_raise_frame_error(raw):
    with pytest.raises(FrameError):
        FrameParser().feed(raw)


def test_limits_on_header_block_and_body():
    with pytest.raises(FrameError, match="header block"):
        FrameParser(max_header_block=100).feed(b"X: " + b"a" * 200)
    with pytest.raises(FrameError, match="header block"):
        FrameParser(max_header_block=100).feed(b"X: " + b"a" * 200 + b"\n\n")
    with pytest.raises(FrameError, match="limit"):
        FrameParser(max_body=10).feed(b"Content-Length: 11\n\n")
    parser = FrameParser(max_header_block=100)
    for _ in range(50):  # a header block arriving byte by byte stays under the limit until it is exceeded
        parser.feed(b"a")
    with pytest.raises(FrameError):
        parser.feed(b"a" * 60)


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.sampled_from([*SMALL, "sip-call-plain", "sip-call-json"]), st.lists(st.integers(0, 10**9), max_size=40)
)
def test_any_chunking_of_a_recorded_stream_gives_the_same_frames(name, cuts):
    data = recording(name)
    assert feed_all(FrameParser(), chunked(data, cuts)) == parsed(name)


@settings(max_examples=100)
@given(st.sampled_from(SMALL), st.data())
def test_a_truncated_stream_gives_a_prefix_of_the_frames_and_keeps_the_rest_buffered(name, data):
    raw = recording(name)
    cut = data.draw(st.integers(0, len(raw)))
    parser = FrameParser()
    frames = feed_all(parser, chunked(raw[:cut], data.draw(st.lists(st.integers(0, 10**6), max_size=8))))
    assert frames == parsed(name)[: len(frames)]
    assert sum(len(frame_raw) for frame_raw in _raws(name)[: len(frames)]) + parser.buffered == cut


@cache
def _raws(name: str) -> list[bytes]:
    return [message.raw for message in messages(recording(name))]


TOKENS = [
    b"Content-Length: ", b"Content-Type: ", b"text/event-plain", b"text/event-json", b"text/event-xml",
    b"api/response", b"\n", b"\n\n", b": ", b":", b"%0A", b"%", b"%zz", b"{", b"}", b"<event>", b"7", b"99",
    b"0", b"Event-Name", b"\xff\xfe", b"\r\n",
]  # fmt: skip


@settings(max_examples=300)
@given(
    st.lists(st.one_of(st.sampled_from(TOKENS), st.binary(max_size=12)), max_size=40),
    st.lists(st.integers(0, 10**6), max_size=10),
)
def test_garbage_raises_nothing_but_frame_error(pieces, cuts):
    parser = FrameParser(max_header_block=256, max_body=256)
    try:
        feed_all(parser, chunked(b"".join(pieces), cuts))
    except FrameError:
        pass


@settings(max_examples=300)
@given(st.text(alphabet=st.sampled_from("%aF0zZé+ \n2A3x"), max_size=30))
def test_percent_decode_agrees_with_unquote(value):
    assert percent_decode(value) == unquote(value)
    assert percent_decode(quote(value)) == value

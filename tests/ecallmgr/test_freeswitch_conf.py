"""freeswitch_conf/: the FreeSWITCH configuration ecallmgr needs parses and points where ecallmgr listens."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path
from urllib.parse import urlparse

import pytest

from ecallmgr.fetch import PATH
from ecallmgr.fetch.server import DEFAULT_PORT
from fsim.dialplan_xml import Action, CallInfo, hunt

CONF = Path(__file__).resolve().parents[2] / "freeswitch_conf"
XML_FILES = sorted(CONF.rglob("*.xml"))


def params(path: Path) -> dict[str, ET.Element]:
    return {param.get("name", ""): param for param in ET.parse(path).getroot().iter("param")}


def test_the_expected_files_are_there() -> None:
    names = {str(path.relative_to(CONF)) for path in XML_FILES}
    assert names >= {
        "autoload_configs/event_socket.conf.xml",
        "autoload_configs/xml_curl.conf.xml",
        "autoload_configs/modules.conf.xml",
        "sip_profiles/internal.xml",
        "dialplan/default.xml",
    }
    assert (CONF / "README.rst").is_file()


@pytest.mark.parametrize("path", XML_FILES, ids=lambda path: str(path.relative_to(CONF)))
def test_every_file_parses(path: Path) -> None:
    ET.parse(path)


def test_event_socket_listens_on_loopback() -> None:
    settings = params(CONF / "autoload_configs/event_socket.conf.xml")
    assert settings["listen-ip"].get("value") == "127.0.0.1"
    assert settings["listen-port"].get("value") == "8021"
    assert settings["password"].get("value")


def test_xml_curl_binds_dialplan_and_directory_to_the_fetch_server() -> None:
    root = ET.parse(CONF / "autoload_configs/xml_curl.conf.xml").getroot()
    assert root.get("name") == "xml_curl.conf"
    (binding,) = root.findall("bindings/binding")
    settings = {param.get("name"): param for param in binding.findall("param")}
    gateway = settings["gateway-url"]
    assert set((gateway.get("bindings") or "").split("|")) == {"dialplan", "directory"}
    url = urlparse(gateway.get("value"))
    assert (url.hostname, url.port, url.path) == ("127.0.0.1", DEFAULT_PORT, PATH)
    assert 2.5 < float(settings["timeout"].get("value", "0")) <= 10


def test_modules_include_what_ecallmgr_relies_on() -> None:
    root = ET.parse(CONF / "autoload_configs/modules.conf.xml").getroot()
    loaded = {load.get("module") for load in root.iter("load")}
    needed = {"event_socket", "xml_curl", "sofia", "dptools", "commands", "dialplan_xml", "loopback"}
    needed |= {"conference", "sndfile", "native_file", "tone_stream", "local_stream", "say_en"}
    assert {f"mod_{name}" for name in needed} <= loaded


def test_internal_profile_routes_through_the_default_context() -> None:
    root = ET.parse(CONF / "sip_profiles/internal.xml").getroot()
    assert root.tag == "profile" and root.get("name") == "internal"
    settings = params(CONF / "sip_profiles/internal.xml")
    assert settings["context"].get("value") == "default"
    assert settings["dialplan"].get("value") == "XML"


def test_fallback_dialplan_refuses_with_503() -> None:
    root = ET.parse(CONF / "dialplan/default.xml").getroot()
    result = hunt(root, CallInfo({"destination_number": "1000", "context": "default"}, {}))
    assert result.actions[-1] == Action("respond", "503 Service Unavailable")

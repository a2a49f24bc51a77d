"""HTTP/SIP digest authentication (RFC 2617, as RFC 3261 uses it), MD5 only, the way mod_sofia checks it.

FreeSWITCH (``sofia_reg_parse_auth``) computes::

    HA1      = MD5(username:realm:password)    or the directory's ``a1-hash`` param as given
    HA2      = MD5(method:uri)
    response = MD5(HA1:nonce:nc:cnonce:qop:HA2)  when nc, cnonce and qop are all present
             = MD5(HA1:nonce:HA2)                otherwise (RFC 2069 compatibility)

and compares the response case-insensitively. ``qop=auth-int`` is not supported by FreeSWITCH either
(the body is never hashed), so it is treated like ``auth``.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass


def md5_hex(text: str) -> str:
    """Lower-case hex MD5 of ``text`` (UTF-8)."""
    return hashlib.md5(text.encode(), usedforsecurity=False).hexdigest()


def ha1(username: str, realm: str, password: str) -> str:
    """HA1 = MD5(username:realm:password): what a directory's ``a1-hash`` param holds."""
    return md5_hex(f"{username}:{realm}:{password}")


def ha2(method: str, uri: str) -> str:
    """HA2 = MD5(method:digest-uri)."""
    return md5_hex(f"{method}:{uri}")


def response(
    a1_hash: str,
    nonce: str,
    method: str,
    uri: str,
    *,
    qop: str | None = None,
    nc: str | None = None,
    cnonce: str | None = None,
) -> str:
    """The request-digest for HA1 ``a1_hash``; the qop form only when qop, nc and cnonce are all given."""
    if qop and nc and cnonce:
        return md5_hex(f"{a1_hash}:{nonce}:{nc}:{cnonce}:{qop}:{ha2(method, uri)}")
    return md5_hex(f"{a1_hash}:{nonce}:{ha2(method, uri)}")


@dataclass(frozen=True)
class Credentials:
    """The parameters of one ``Authorization: Digest ...`` header (what a device sends back)."""

    username: str
    realm: str
    nonce: str
    uri: str
    response: str
    method: str = "REGISTER"
    qop: str | None = None
    nc: str | None = None
    cnonce: str | None = None
    algorithm: str = "MD5"

    def header(self) -> str:
        """The header value, in the parameter order sipp sends (as in the REGISTER recording)."""
        parts = [f'username="{self.username}"', f'realm="{self.realm}"']
        if self.cnonce is not None:
            parts.append(f'cnonce="{self.cnonce}"')
        if self.nc is not None:
            parts.append(f"nc={self.nc}")
        if self.qop is not None:
            parts.append(f"qop={self.qop}")
        parts += [f'uri="{self.uri}"', f'nonce="{self.nonce}"', f'response="{self.response}"']
        parts.append(f"algorithm={self.algorithm}")
        return "Digest " + ",".join(parts)


def answer_challenge(
    username: str,
    password: str,
    *,
    realm: str,
    nonce: str,
    method: str,
    uri: str,
    qop: str | None = "auth",
    nc: int = 1,
    cnonce: str | None = None,
) -> Credentials:
    """What a device answers to ``WWW-Authenticate: Digest realm=.., nonce=.., qop="auth"``.

    ``qop=None`` answers an RFC 2069 challenge (no nc/cnonce). ``cnonce`` defaults to 8 random hex digits,
    like sipp's.
    """
    if qop is None:
        digest = response(ha1(username, realm, password), nonce, method, uri)
        return Credentials(username, realm, nonce, uri, digest, method)
    nc_text = f"{nc:08x}"
    cnonce = cnonce if cnonce is not None else secrets.token_hex(4)
    digest = response(ha1(username, realm, password), nonce, method, uri, qop=qop, nc=nc_text, cnonce=cnonce)
    return Credentials(username, realm, nonce, uri, digest, method, qop, nc_text, cnonce)


def check(credentials: Credentials, *, password: str | None = None, a1_hash: str | None = None) -> bool:
    """Whether ``credentials`` prove knowledge of ``password`` (or of HA1 ``a1_hash``, which wins).

    Like FreeSWITCH, HA1 is built from the username and realm *the device sent*, and the response is
    compared case-insensitively. With neither a password nor an a1-hash there is nothing to check:
    FreeSWITCH then accepts the user (``allow-empty-password`` defaults to true), and so does this.
    """
    if not a1_hash:
        if not password:
            return True
        a1_hash = ha1(credentials.username, credentials.realm, password)
    expected = response(
        a1_hash,
        credentials.nonce,
        credentials.method,
        credentials.uri,
        qop=credentials.qop,
        nc=credentials.nc,
        cnonce=credentials.cnonce,
    )
    return secrets.compare_digest(expected.encode(), credentials.response.lower().encode())

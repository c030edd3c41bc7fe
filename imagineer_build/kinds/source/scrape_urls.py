"""URL hygiene for the scraper: one spelling per URL, pattern matching, and the address guard.

Normalizing means a page linked as `HTTP://Site:80/a?b=1&a=2#top` and `http://site/a?a=2&b=1`
is fetched once. The address guard resolves a host and refuses loopback, private, link-local
and other non-public addresses, so a spec cannot turn a build into a probe of the local network.
"""

from __future__ import annotations

import fnmatch
import ipaddress
import re
import socket
from urllib.parse import parse_qsl, quote, urlencode, urljoin, urlsplit, urlunsplit

DEFAULT_PORTS = {"http": 80, "https": 443}


class UnsafeURL(Exception):
    """A URL the scraper refuses to fetch; the message says why."""


def normalize(url: str, base: str | None = None) -> str | None:
    """An absolute, canonical http(s) URL without fragment; None for anything else."""
    url = url.strip()
    if not url or url.startswith(("data:", "javascript:", "mailto:", "blob:", "about:", "tel:")):
        return None
    if base is not None:
        url = urljoin(base, url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower().rstrip(".")
    if ":" in host:
        host = f"[{host}]"
    netloc = host if port in (None, DEFAULT_PORTS[scheme]) else f"{host}:{port}"
    path = parts.path
    if "/." in path:  # resolve dot segments: /a/../b → /b
        path = urlsplit(urljoin("http://x/", path)).path
    path = quote(path, safe="/:@!$&'()*+,;=~-._%") or "/"
    query = urlencode(sorted(parse_qsl(parts.query, keep_blank_values=True)), doseq=True)
    return urlunsplit((scheme, netloc, path, query, ""))


def host_of(url: str) -> str:
    return (urlsplit(url).hostname or "").lower()


def origin_of(url: str) -> str:
    p = urlsplit(url)
    return f"{p.scheme}://{p.netloc}"


def same_site(url: str, start_host: str) -> bool:
    """The start host itself or one of its subdomains."""
    h = host_of(url)
    return h == start_host or h.endswith("." + start_host)


def compile_patterns(patterns: list[str]) -> list[re.Pattern[str]]:
    """Globs match the whole URL; 're:' patterns are searched anywhere in it."""
    out = []
    for p in patterns:
        out.append(re.compile(p[3:]) if p.startswith("re:") else re.compile(fnmatch.translate(p)))
    return out


def matches(url: str, patterns: list[re.Pattern[str]]) -> bool:
    return any(p.search(url) for p in patterns)


def _bad_address(ip: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for what in ("unspecified", "loopback", "link_local", "multicast", "private", "reserved"):
        if getattr(ip, f"is_{what}"):
            return what.replace("_", "-")
    return None


def check_addresses(host: str, addresses: list[str]) -> None:
    """Raise UnsafeURL if any address of the host is not public."""
    if not addresses:
        raise UnsafeURL(f"{host} does not resolve")
    for a in addresses:
        why = _bad_address(ipaddress.ip_address(a.split("%")[0]))
        if why:
            raise UnsafeURL(f"{host} resolves to {why} address {a} (set scrape.allow_private: true to allow)")


def resolve(host: str, port: int) -> list[str]:
    """Every address a host resolves to (blocking; call it in a thread)."""
    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as e:
        raise UnsafeURL(f"{host} does not resolve: {e.strerror or e}") from None
    return sorted({str(i[4][0]) for i in infos})

"""Content types and cache headers for static web releases."""

from __future__ import annotations

import mimetypes
import re

__all__ = ["CACHE_HTML", "CACHE_IMMUTABLE", "CACHE_OTHER", "cache_control", "content_type"]

CACHE_IMMUTABLE = "public, max-age=31536000, immutable"
CACHE_HTML = "public, max-age=0, must-revalidate"
CACHE_OTHER = "public, max-age=300"

_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".htm": "text/html; charset=utf-8",
    ".js": "application/javascript; charset=utf-8",
    ".mjs": "application/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".map": "application/json",
    ".txt": "text/plain; charset=utf-8",
    ".svg": "image/svg+xml",
    ".ico": "image/x-icon",
    ".webmanifest": "application/manifest+json",
    ".woff": "font/woff",
    ".woff2": "font/woff2",
    ".png": "image/png",
    ".jpg": "image/jpeg",
    ".jpeg": "image/jpeg",
    ".webp": "image/webp",
    ".avif": "image/avif",
    ".xml": "application/xml",
    ".wasm": "application/wasm",
}
# Next.js puts content-hashed files under _next/static/; other bundlers use name.<hash>.ext.
_HASHED_NAME = re.compile(r"[.-][0-9a-f]{8,}\.[a-z0-9]+$")


def content_type(key: str) -> str:
    lower = key.lower()
    dot = lower.rfind(".")
    if dot != -1 and lower[dot:] in _TYPES:
        return _TYPES[lower[dot:]]
    guessed, _ = mimetypes.guess_type(lower)
    return guessed or "application/octet-stream"


def cache_control(key: str) -> str:
    """Hashed assets are immutable; HTML (and extension-less routes) always revalidate."""
    lower = key.lower()
    if lower.startswith("_next/static/") or "/_next/static/" in lower or _HASHED_NAME.search(lower):
        return CACHE_IMMUTABLE
    name = lower.rsplit("/", 1)[-1]
    if name.endswith((".html", ".htm")) or "." not in name or name == "_release.json":
        return CACHE_HTML
    return CACHE_OTHER

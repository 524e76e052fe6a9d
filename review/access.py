"""Who may change the shared curated set (no Gradio here: a request is any object with the
``session_hash`` and ``session`` of ``gr.Request``).

Run privately (the default), every visitor of the app is a curator: decisions go to the one
shared store (``review.store.default_store``). Run *public* (``SPACE_ID`` set, as on a
Hugging Face Space, or ``SQUATPOSE_PUBLIC=1``; ``SQUATPOSE_PUBLIC=0`` turns it off), a
visitor's decisions, undo and notes live in a store of their own session
(``<data dir>/sessions/<id>.sqlite``, under the disk budget and its age limit): they see, undo
and export only their own. The shared set changes only for a signed-in *maintainer*:

- with the maintainer token (``SQUATPOSE_MAINTAINER_TOKEN``, a Space secret), typed in the
  Review tab's sign-in box (compared in constant time), or
- with Hugging Face sign-in (Gradio's OAuth, on a Space with ``hf_oauth: true``) as one of the
  user names in ``SQUATPOSE_MAINTAINERS`` (comma-separated).

A session's sign-in lasts for that page (a reload signs out).
"""
from __future__ import annotations

import hashlib
import hmac
import os
import threading
from pathlib import Path

from .store import ReviewStore, default_store

_SIGNED_IN: dict[str, str] = {}  # session hash -> maintainer name
_LOCK = threading.Lock()
_MAX_SIGNED_IN = 1000


class NotAllowed(ValueError):
    """A request the visitor's role does not allow; the message says what to do."""


def public() -> bool:
    """Whether the app serves the public (a Space, or ``SQUATPOSE_PUBLIC=1``)."""
    flag = os.environ.get("SQUATPOSE_PUBLIC", "").strip().lower()
    if flag in ("0", "false", "no", "off"):
        return False
    return flag in ("1", "true", "yes", "on") or bool(os.environ.get("SPACE_ID"))


def maintainer_names() -> set[str]:
    return {n.strip().lower() for n in os.environ.get("SQUATPOSE_MAINTAINERS", "").split(",") if n.strip()}


def _session(request) -> str | None:
    h = getattr(request, "session_hash", None) if request is not None else None
    return str(h) if h else None


def oauth_username(request) -> str | None:
    """The Hugging Face user name of a request signed in through Gradio's OAuth, if any."""
    try:
        info = request.session.get("oauth_info") or {}
        return (info.get("userinfo") or {}).get("preferred_username") or None
    except Exception:  # no OAuth attached to this app: no session middleware
        return None


def maintainer(request) -> str | None:
    """The signed-in maintainer's name for this request, None for a visitor (every request
    is a maintainer when the app is not public)."""
    if not public():
        return "local"
    user = oauth_username(request)
    if user and user.lower() in maintainer_names():
        return user
    key = _session(request)
    with _LOCK:
        return _SIGNED_IN.get(key) if key else None


def sign_in(request, token: str) -> str:
    """Sign this session in as a maintainer with the token; NotAllowed when it is wrong."""
    expected = os.environ.get("SQUATPOSE_MAINTAINER_TOKEN", "")
    key = _session(request)
    if not expected:
        raise NotAllowed("maintainer sign-in by token is not set up on this server")
    if not key:
        raise NotAllowed("sign in from the app's page")
    if not hmac.compare_digest(str(token or "").encode(), expected.encode()):
        raise NotAllowed("that is not the maintainer token")
    with _LOCK:
        while len(_SIGNED_IN) >= _MAX_SIGNED_IN:
            _SIGNED_IN.pop(next(iter(_SIGNED_IN)))
        _SIGNED_IN[key] = "maintainer"
    return "maintainer"


def sign_out(request) -> None:
    key = _session(request)
    with _LOCK:
        _SIGNED_IN.pop(key, None)


def _visitor_path(key: str) -> Path:
    from engine import storage
    name = hashlib.sha256(f"squatpose-visitor:{key}".encode()).hexdigest()[:32]
    return storage.area("sessions") / f"{name}.sqlite"


def store_for(request) -> ReviewStore:
    """The store this request reads and writes: the shared one for a maintainer (and for
    everyone when the app is not public), else the visitor's own session store."""
    if maintainer(request):
        return default_store()
    key = _session(request)
    if not key:
        raise NotAllowed("on this public app, review decisions are kept per visit: use the app's "
                         "page (or a Gradio client, which has a session)")
    return ReviewStore(_visitor_path(key))


def role_line(request) -> str:
    """One line for the tab: whose decisions the visitor sees and changes."""
    if not public():
        return ""
    who = maintainer(request)
    if who:
        return f"Signed in as maintainer ({who}): decisions change the shared curated set."
    return ("You are a visitor: your decisions, notes and undo are yours alone, kept for this visit; "
            "the shared curated set changes only for a signed-in maintainer.")

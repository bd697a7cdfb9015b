"""C2PA Content Credentials through c2pa-python (extra `provenance`), imported only when a file carries them.

c2pa-python reports a manifest store's `validation_state`: "Trusted" (signature valid, signer chains to a
trust anchor), "Valid" (signature and hashes valid, signer not trusted) or "Invalid" (a hash or signature
fails: tampered or broken). They map to our "valid", "untrusted" and "invalid". Network access (OCSP, remote
manifests) is turned off: reading evidence never leaves the machine.
"""

from __future__ import annotations

import json
import threading
from typing import Any, BinaryIO

from .findings import Finding, is_generated_source_type, source_type_code
from .limits import MAX_LIST_ITEMS, MAX_STRING_CHARS, EvidenceOptions
from .textutil import clip

MIME = {"jpeg": "image/jpeg", "png": "image/png", "webp": "image/webp"}
INSTALL_HINT = "c2pa-python is not installed (pip install 'pinclip-sdk[provenance]')"
_STATE = {"trusted": "valid", "valid": "untrusted", "invalid": "invalid"}
_UNTRUSTED_CODES = {"signingCredential.untrusted"}

_contexts: dict[str | None, Any] = {}
_contexts_lock = threading.Lock()


def c2pa_available() -> bool:
    """True when c2pa-python can be imported."""
    try:
        import c2pa  # noqa: F401
    except ImportError:
        return False
    return True


def _context(c2pa: Any, anchors_pem: str | None) -> Any:
    """A c2pa Context verifying trust against `anchors_pem` (None: no signer trusted), cached per bundle."""
    with _contexts_lock:
        ctx = _contexts.get(anchors_pem)
        if ctx is None:
            settings: dict[str, Any] = {
                "verify": {"verify_trust": True, "ocsp_fetch": False, "remote_manifest_fetch": False}
            }
            if anchors_pem:
                settings["trust"] = {"trust_anchors": anchors_pem}
            ctx = c2pa.Context(c2pa.Settings.from_dict(settings))
            if len(_contexts) >= 8:
                _contexts.clear()
            _contexts[anchors_pem] = ctx
        return ctx


def read_c2pa(f: BinaryIO, fmt: str | None, store_bytes: int, options: EvidenceOptions) -> Finding | None:
    """The C2PA finding of a file, or None when it has no manifest store.

    `store_bytes` is the store size the container walk found (0: none found, or a format it does not walk, in
    which case c2pa-python looks itself and finding nothing is not an error).
    """
    if store_bytes > options.max_c2pa_bytes:
        return Finding(
            "c2pa",
            says={"store_bytes": store_bytes},
            validation="invalid",
            error=f"C2PA store of {store_bytes} bytes exceeds max_c2pa_bytes={options.max_c2pa_bytes}; "
            "not verified",
        )
    try:
        import c2pa
    except ImportError:
        if store_bytes:
            return Finding("c2pa", says={"store_bytes": store_bytes}, error=INSTALL_HINT + "; not verified")
        return None
    f.seek(0)
    try:
        ctx = _context(c2pa, options.trust_anchors_pem)
        with c2pa.Reader(MIME.get(fmt or "", ""), f, context=ctx) as reader:
            store = json.loads(reader.json())
            state = reader.get_validation_state()
    except Exception as e:  # noqa: BLE001 - c2pa raises C2paError subclasses, ctypes and JSON errors on hostile data
        if not store_bytes and _nothing_there(c2pa, e):
            return None
        return Finding("c2pa", validation="invalid", error=f"C2PA store cannot be read: {_message(e)}")
    if not isinstance(store, dict):
        return Finding("c2pa", validation="invalid", error="C2PA store JSON is not an object")
    return _finding(store, state)


def _nothing_there(c2pa: Any, e: Exception) -> bool:
    """True for the errors that mean "no C2PA here" rather than "a broken store"."""
    kinds = tuple(getattr(c2pa.C2paError, n, ()) for n in ("ManifestNotFound", "NotSupported"))
    return isinstance(e, kinds) or "ManifestNotFound" in str(e) or "NotSupported" in str(e)


def _message(e: Exception) -> str:
    return clip(str(e) or type(e).__name__, MAX_STRING_CHARS)


def _finding(store: dict[str, Any], state: object) -> Finding:
    manifests = store.get("manifests")
    active = manifests.get(store.get("active_manifest")) if isinstance(manifests, dict) else None
    if not isinstance(active, dict):
        return Finding("c2pa", validation="invalid", error="C2PA store has no active manifest")
    codes = [s.get("code") for s in _list(store.get("validation_status")) if isinstance(s, dict)]
    validation = _validation(state, [c for c in codes if isinstance(c, str)])
    actions = _actions(active)
    says: dict[str, Any] = {"claim_generator": _claim_generator(active)}
    dsts = [a["digitalSourceType"] for a in actions if "digitalSourceType" in a]
    if dsts:
        says["digital_source_type"] = dsts[0]
    agents = [a["softwareAgent"] for a in actions if "softwareAgent" in a]
    says["generator"] = agents[0] if agents else says["claim_generator"]
    says["actions"] = actions
    signature = active.get("signature_info")
    if isinstance(signature, dict):
        says["signer"] = {
            k: clip(str(signature[k]), 200) for k in ("issuer", "common_name", "alg") if k in signature
        }
    if isinstance(active.get("title"), str):
        says["title"] = clip(active["title"], MAX_STRING_CHARS)
    says["validation_state"] = state if isinstance(state, str) else None
    if codes:
        says["validation_codes"] = [clip(str(c), 100) for c in codes[:MAX_LIST_ITEMS]]
    generated = any(is_generated_source_type(d) for d in dsts)
    return Finding("c2pa", says=says, declares_generated=generated, validation=validation)


def _validation(state: object, codes: list[str]) -> str:
    """Our validation word from c2pa's state, or from the status codes when the state is missing."""
    if isinstance(state, str) and state.lower() in _STATE:
        return _STATE[state.lower()]
    if any(c not in _UNTRUSTED_CODES for c in codes):
        return "invalid"
    return "untrusted"


def _list(value: object) -> list[Any]:
    return value if isinstance(value, list) else []


def _claim_generator(manifest: dict[str, Any]) -> str | None:
    infos = [i for i in _list(manifest.get("claim_generator_info")) if isinstance(i, dict)]
    names = [
        f"{i.get('name')}/{i['version']}" if i.get("version") else str(i.get("name"))
        for i in infos
        if i.get("name")
    ]
    if names:
        return clip(" ".join(names), MAX_STRING_CHARS)
    legacy = manifest.get("claim_generator")
    return clip(legacy, MAX_STRING_CHARS) if isinstance(legacy, str) else None


def _actions(manifest: dict[str, Any]) -> list[dict[str, Any]]:
    """The actions of the manifest's c2pa.actions assertions, reduced to JSON-ready essentials."""
    out: list[dict[str, Any]] = []
    for assertion in _list(manifest.get("assertions")):
        if not isinstance(assertion, dict) or not str(assertion.get("label", "")).startswith("c2pa.actions"):
            continue
        data = assertion.get("data")
        for action in _list(data.get("actions") if isinstance(data, dict) else None):
            if not isinstance(action, dict) or len(out) >= MAX_LIST_ITEMS:
                continue
            item: dict[str, Any] = {"action": clip(str(action.get("action")), 100)}
            dst = source_type_code(action.get("digitalSourceType"))
            if dst:
                item["digitalSourceType"] = dst
            agent = action.get("softwareAgent")
            name = agent.get("name") if isinstance(agent, dict) else agent
            if isinstance(name, str):
                item["softwareAgent"] = clip(name, 200)
            out.append(item)
    return out

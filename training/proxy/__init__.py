"""The offline proxy forensic benchmark: real photo crops vs outputs of small generators trained here.

No public AI-image dataset can be downloaded on every machine, so `build_proxy` makes a small but
real one from photographs shipped inside installed packages, in GenImage's layout, with one
generator family per folder (`pinclip data build-proxy OUT`). Importing this package does not import
torch; `build_proxy` does.

Example:
    >>> from pinclip_sdk.training.proxy import ProxyConfig, build_proxy     # doctest: +SKIP
    >>> summary = build_proxy("proxy", ProxyConfig(seed=0))                  # doctest: +SKIP
    >>> print(summary.sharpness_table())                                     # doctest: +SKIP
"""

from __future__ import annotations

from pathlib import Path

from pinclip_sdk.training.proxy.proxy_config import FAMILIES, FamilyStats, ProxyConfig, ProxySummary

__all__ = ["FAMILIES", "FamilyStats", "ProxyConfig", "ProxySummary", "build_proxy"]


def build_proxy(
    out: str | Path, config: ProxyConfig | None = None, *, force: bool = False, progress: bool = True
) -> ProxySummary:
    """Build (or reuse) the proxy benchmark under `out`; see `builder.build_proxy`."""
    from pinclip_sdk.training.proxy import builder

    return builder.build_proxy(out, config, force=force, progress=progress)

"""Inference backends, one module each, behind the protocol in `pinclip_sdk.backends.base`."""

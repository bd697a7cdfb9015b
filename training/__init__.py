"""PiN-CLIP training (installed as `pinclip_sdk.training`; needs the `train` extra).

Importing this package must stay cheap: torch and open_clip are imported by the submodules that
need them, so `pinclip --help` works without them.
"""

"""Small helpers shared by the interpreters: cutting long strings and naming known generators."""

from __future__ import annotations

# Tools whose name in a Software / CreatorTool field states the image was generated.
KNOWN_GENERATORS = (
    "stable diffusion",
    "midjourney",
    "dall-e",
    "dall·e",
    "novelai",
    "comfyui",
    "invokeai",
    "fooocus",
    "firefly",
    "google imagen",
    "black forest labs",
    "leonardo.ai",
    "ideogram",
    "gpt-image",
)


def clip(text: str, limit: int) -> str:
    """`text` cut to `limit` characters, marked when cut."""
    return text if len(text) <= limit else text[:limit] + "…"


def names_generator(tool: object) -> bool:
    """True when a tool name contains a known image generator's name."""
    if not isinstance(tool, str):
        return False
    lowered = tool.lower()
    return any(name in lowered for name in KNOWN_GENERATORS)

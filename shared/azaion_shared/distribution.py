"""Names of a protected model's two parts (DESIGN.md, "Model resources").

An encrypted model is cut in two (azaion_shared.split): the small part is stored by the api as
``{resource}.small``, the big part by the CDN as ``{resource}.big``. Publishing uploads the big part
first: a publication becomes visible when its small part (then its signed release manifest) lands,
so a device never sees a small part whose big part is missing. Publishing and fetching releases:
``trainer.release`` and ``inference.store``.
"""

from __future__ import annotations


def small_name(name: str) -> str:
    return f"{name}.small"


def big_name(name: str) -> str:
    return f"{name}.big"

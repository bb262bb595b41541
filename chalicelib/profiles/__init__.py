"""Profiles: one person's live profile — the stored model and its codec, the fold of events into it (computed
traits, merge, segments at fold time), the store port and its adapters, the fold and sweep use cases, and the admin read
model. Scoring rules (lead score, lifecycle, RFM) live one wing below, in `scoring/`.

Modules are the public face (imported by name; the package loads nothing, for cold start): `model`, `codec`, `view`,
`ports`, `fold`, `merge`, `traits`, `segmentation`, `config`, `redirects`, `fold_batches`, `sweeps`, `lookup`.
"""

__all__ = [
    "codec",
    "config",
    "fold",
    "fold_batches",
    "lookup",
    "merge",
    "model",
    "ports",
    "redirects",
    "segmentation",
    "sweeps",
    "traits",
    "view",
]

"""Synthetic county generator: a complete delivery (13 feeds) with an answer key.

    generate_county(out, period, households=2000, seed=1, progress=None, previous_problems=None) -> out

See docs/generate.md for the files written, the planted rule hits and defects, and the
conventions the answer key follows.
"""

from fangpin.generate.build import PlantingError, generate_county

__all__ = ["generate_county", "PlantingError"]

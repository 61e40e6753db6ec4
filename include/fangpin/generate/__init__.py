"""Synthetic county generator: a complete delivery (13 feeds) with an answer key, and the living
county the demo runs month after month.

    generate_county(out, period, households=2000, seed=1, progress=None, previous_problems=None) -> out
    generate_month(data_root, period, eng, households=2000, seed=1) -> <data_root>/<period>/
    generate_week(data_root, week, eng, seed=1, households=None)    -> <data_root>/weekly/<YYYY-Www>/

See docs/generate.md for the files written, the planted rule hits and defects, the conventions
the answer key follows, and how the living county's townships react to what the system sent.
"""

from fangpin.generate.build import PlantingError, generate_county
from fangpin.generate.living import generate_month, generate_week

__all__ = ["generate_county", "generate_month", "generate_week", "PlantingError"]

"""The data-quality stage's building blocks (the public API is fangpin.validate).

- normalise.py the cell normalisers the reader applies before any check (NFKC, blanks, x, amounts)
- messy.py    messy-export row problems (ID stored as number, 合计行, 列数多于表头, 重复, control
              characters, text limits) merged with the suites' failures into one reason per row
- checks.py   pure, vectorised pandas primitives (ID numbers, dates, numbers) — no GX import
- suites.py   the declarative expectation suites in expectations/ (load, and write them from feeds.py)
- prepare.py  raw text frames -> check frames (cleaned + derived columns) and typed frames
- evaluate.py the suites evaluated with plain pandas (the benchmark's baseline, and a cross-check)
- gx_run.py   the suites run by Great Expectations; failures mapped to rows; Data Docs
- gx_custom.py custom GX expectations besides the ID number one (dates, references)
- history.py  validation runs, results and quarantined rows in the monitoring database
"""

"""fangpin: 防返贫动态监测 (dynamic monitoring to prevent households falling back into poverty).

Every stage lives in its own module and is importable without Airflow; see docs/ for
one page per stage.
"""

__version__ = "0.1.0"

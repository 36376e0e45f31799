"""`tbench report`: one static HTML page with the field's figures (NIAH depth × length heat map, score
vs context length, NLL vs token position), the compare table, gate outcomes, cost and run metadata.

data.py selects and aggregates (pure, pandas); figures.py draws (matplotlib, lazily imported);
page.py writes the HTML; build.py puts them together in --out.
"""

from .build import Report, build

__all__ = ["Report", "build"]

"""`python -m toroidal_bench ...` is `tbench ...` (where the console script is not installed)."""

from .cli import main

main()

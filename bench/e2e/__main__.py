"""``python -m bench.e2e``: the comparison of bench/compare.py."""

from bench.compare import main

main()

"""Each precomputed study behind ``data/results/``: its runner, its report for the lessons, its command line.

May import everything below it (every subpackage but ``lessons`` and ``course``).
"""

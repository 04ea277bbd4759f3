"""What only the notebooks use: plots, widgets, the interactive views of the studies, the environment report,
the exercises and their checks.

May import everything but ``course``.
"""

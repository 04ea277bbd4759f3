"""What only the notebooks use: plots, widgets, views of the studies, the environment report, the exercises.

May import everything but ``course``.
"""

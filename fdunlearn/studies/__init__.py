"""Each precomputed study behind ``data/results/``: runner, report for the lessons, command line. All share ``results``
(the results file resumed run by run, the ``--out`` check, the loader, mean ± sd). Lesson 02: ``eta_study``; lesson
03: ``vdu_study``, ``vdu_digits`` (its rows in ``vdu_variants``; beside it ``vdu_oracle``, ``vdu_mix`` and
fs-guide's ``guide_fit``, ``guide_bands``, ``guide_target``, ``guide_levers``, ``guide_seeds``, ``guide_residue``),
``vdu_report``; lesson 04: ``erase_study`` (with ``erase_tasks`` and ``erase_summary``), ``erase_regimes`` (with
``regimes_runs``) and ``regimes_report``, ``erase_defaults``, ``attack_study`` and ``attack_report``; lesson 05:
``sd_table``, ``bench``; the claims ledger: ``claims``.

May import every subpackage but ``lessons`` and ``course``.
"""

import json

import pytest

from fdunlearn.course import run_notebooks


def test_record_times_merges_one_run_into_the_times_file_and_keeps_the_others(tmp_path):
    path = tmp_path / "times.json"
    run_notebooks.record_times({"00_welcome.ipynb": 11.1, "01_x.ipynb": 42.0}, path)
    run_notebooks.record_times({"01_x.ipynb": 40.5}, path)
    entries = json.loads(path.read_text())["notebooks"]
    assert {k: v["seconds"] for k, v in entries.items()} == {"00_welcome.ipynb": 11.1, "01_x.ipynb": 40.5}
    assert all(v["cpus"] >= 1 and len(v["date"]) == 10 for v in entries.values())


def test_record_times_keeps_fast_mode_beside_full_mode(tmp_path):
    path = tmp_path / "times.json"
    run_notebooks.record_times({"01_x.ipynb": 42.0}, path)
    run_notebooks.record_times({"01_x.ipynb": 9.5}, path, mode="fast")
    e = json.loads(path.read_text())["notebooks"]["01_x.ipynb"]
    assert e["seconds"] == 42.0 and e["fast"]["seconds"] == 9.5
    run_notebooks.record_times({"01_x.ipynb": 41.0}, path)
    assert json.loads(path.read_text())["notebooks"]["01_x.ipynb"]["fast"]["seconds"] == 9.5


def test_record_times_refuses_an_unknown_mode(tmp_path):
    with pytest.raises(ValueError, match=r"'slow'.*full, fast"):
        run_notebooks.record_times({"01_x.ipynb": 1.0}, tmp_path / "t.json", mode="slow")


def test_the_readme_times_table_lists_every_lesson_from_the_times_file():
    table = run_notebooks.notebook_times()
    recorded = json.loads(run_notebooks.TIMES.read_text())["notebooks"]
    for name, e in recorded.items():
        assert f"| {name} | {run_notebooks._duration(e['seconds'])} ({e['date']}, {e['cpus']} cores) |" in table
        if "fast" in e:
            f = e["fast"]
            assert f"| {run_notebooks._duration(f['seconds'])} ({f['date']}, {f['cpus']} cores) |" in table
    assert run_notebooks._duration(293) == "4 min 53 s" and run_notebooks._duration(7.4) == "7 s"


def test_run_leaves_the_notebook_untouched_unless_asked_to_write(tmp_path):
    import nbformat

    path = tmp_path / "n.ipynb"
    nbformat.write(nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("print(6 * 7)")]), path)
    before = path.read_text()
    assert run_notebooks.run(path, write=False) > 0
    assert path.read_text() == before
    run_notebooks.run(path)
    assert "42" in path.read_text()


def test_slowest_cells_ranks_code_cells_by_their_recorded_time():
    import nbformat

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(f"x = {i}\nmore") for i in range(3)]
                                  + [nbformat.v4.new_markdown_cell("text")])
    for cell, end in zip(nb.cells[:2], ("00:00:02.5", "00:00:09"), strict=True):
        cell.metadata["execution"] = {"iopub.execute_input": "2026-12-01T00:00:00.000000Z",
                                      "shell.execute_reply": f"2026-12-01T{end}Z"}
    assert run_notebooks.slowest_cells(nb) == [(1, 9.0, "x = 1"), (0, 2.5, "x = 0")]  # cell 2: no timing recorded

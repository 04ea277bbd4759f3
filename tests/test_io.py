import pytest
import torch

from fdunlearn import files as io


def test_atomic_path_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "x.safetensors"
    io.save_tensors({"a": torch.ones(2)}, target)
    with pytest.raises(RuntimeError), io.atomic_path(target) as tmp:
        tmp.write_text("half-written")
        raise RuntimeError("interrupted")
    assert torch.equal(io.load_tensors(target)["a"], torch.ones(2))  # old file intact
    assert sorted(p.name for p in tmp_path.iterdir()) == ["x.safetensors"]  # no temp left


def test_atomic_dir_replaces_only_on_success(tmp_path):
    folder = tmp_path / "model"
    with io.atomic_dir(folder) as tmp:
        (tmp / "a.txt").write_text("1")
    with pytest.raises(RuntimeError), io.atomic_dir(folder) as tmp:
        (tmp / "a.txt").write_text("2")
        raise RuntimeError
    assert (folder / "a.txt").read_text() == "1"
    assert [p.name for p in tmp_path.iterdir()] == ["model"]


def test_sha256_mismatch_is_reported(tmp_path):
    f = tmp_path / "w.bin"
    f.write_bytes(b"weights")
    io.verify_sha256(f, io.sha256(f))
    with pytest.raises(ValueError, match="SHA-256 mismatch"):
        io.verify_sha256(f, "0" * 64)


def test_jsonl_log_appends_truncates_and_reads(tmp_path):
    path = tmp_path / "log.jsonl"
    assert io.read_jsonl(path) == []
    for step in (10, 20, 30):
        io.append_jsonl(path, {"step": step, "loss": 1.0 / step})
    io.truncate_jsonl(path, 20)  # a run resumed from step 20 rewrites what came after
    assert [r["step"] for r in io.read_jsonl(path)] == [10, 20]


def test_run_folder_refuses_to_overwrite_a_run_unless_resuming(tmp_path):
    out = io.run_folder(tmp_path / "run", "state.pt", resume=False)
    (out / "state.pt").write_bytes(b"x")
    with pytest.raises(FileExistsError, match="resume"):
        io.run_folder(out, "state.pt", resume=False)
    assert io.run_folder(out, "state.pt", resume=True) == out

import pytest

from kerasformers.tasks import runs


def test_prepare_run_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = runs.prepare_run_dir(None, "translation")
    assert default.parent.name == "runs" and default.name.startswith("translation-")

    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    assert runs.prepare_run_dir(run, "translation") == run
    assert "Resuming the interrupted run" in capsys.readouterr().out

    for name in ("task.json", "model.keras", "plot.png", "notes.txt"):
        (run / name).write_text("x")
    (run / "logs").mkdir()
    with pytest.raises(FileExistsError):
        runs.prepare_run_dir(run, "translation")
    runs.prepare_run_dir(run, "translation", overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # only the run's own files go


def test_directories_are_told_apart(tmp_path):
    assert not runs.is_serving_dir(tmp_path) and not runs.is_run_dir(tmp_path)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"")
    assert runs.is_serving_dir(tmp_path) and runs.is_serving_dir(tmp_path / "2")
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        runs.load_run(tmp_path)

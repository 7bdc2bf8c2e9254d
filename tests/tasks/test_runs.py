import keras
import pytest

from kerasformers import training

from kerasformers.tasks import _common, runs


def test_prepare_run_dir(tmp_path, capsys, monkeypatch):
    monkeypatch.chdir(tmp_path)
    default = _common.prepare_run_dir(None, "translation")
    assert default.parent.name == "runs" and default.name.startswith("translation-")

    run = tmp_path / "run"
    (run / "backup").mkdir(parents=True)
    assert _common.prepare_run_dir(run, "translation") == run
    assert "Resuming the interrupted run" in capsys.readouterr().out

    for name in ("task.json", "model.keras", "plot.png", "notes.txt"):
        (run / name).write_text("x")
    (run / "logs").mkdir()
    with pytest.raises(FileExistsError):
        _common.prepare_run_dir(run, "translation")
    _common.prepare_run_dir(run, "translation", overwrite=True)
    assert sorted(p.name for p in run.iterdir()) == ["notes.txt"]  # only the run's own files go


def test_schedule_peaks_at_the_learning_rate():
    warmup, scale = _common.schedule_parameters(model_dim=128, total_steps=1000, learning_rate=2e-3)
    schedule = training.TransformerSchedule(128, warmup_steps=warmup, scale=scale)
    assert warmup == 100
    assert float(schedule(99)) == pytest.approx(2e-3, rel=1e-5)  # update number 100
    assert float(schedule(10)) < 2e-3 and float(schedule(500)) < 2e-3
    assert isinstance(_common.optimizer(128, 1000, 2e-3), keras.optimizers.Adam)


def test_directories_are_told_apart(tmp_path):
    assert not runs.is_serving_dir(tmp_path) and not runs.is_run_dir(tmp_path)
    (tmp_path / "2").mkdir()
    (tmp_path / "2" / "saved_model.pb").write_bytes(b"")
    assert runs.is_serving_dir(tmp_path) and runs.is_serving_dir(tmp_path / "2")
    with pytest.raises(FileNotFoundError, match="not a training run folder"):
        runs.load_run(tmp_path)

import numpy as np
import pytest

pytest.importorskip("matplotlib")

from kerasformers.tasks import plots  # noqa: E402


def _is_png(path):
    return path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_every_plot_writes_a_png(tmp_path):
    paths = [
        plots.training_curves({"loss": [1.0, 0.5], "val_loss": [1.1, 0.7], "accuracy": [0.5, 0.8]},
                              tmp_path / "curves.png"),
        plots.attention_heatmap(np.full((3, 4), 0.25), list("abcd"), ["x", "y", "[END]"], tmp_path / "a" / "att.png"),
        plots.confusion_matrix(np.array([[5, 1], [2, 7]]), ["neg", "pos"], tmp_path / "cm.png"),
        plots.image_predictions(np.random.default_rng(0).uniform(size=(5, 8, 8, 1)), np.arange(5),
                                np.array([0, 1, 0, 3, 4]), [str(i) for i in range(5)], tmp_path / "pred.png"),
        plots.accuracy_over_time({"A": ((1.0, 2.0), (0.5, 0.7)), "B": ((1.5,), (0.6,))}, tmp_path / "time.png"),
    ]
    assert all(p.is_file() and _is_png(p) for p in paths)

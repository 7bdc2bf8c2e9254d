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


def test_a_long_title_is_wrapped_inside_the_figure(tmp_path):
    """Seen on a real run: the confusion matrix's title ran off the right edge (`(accuracy 0.74`)."""
    import matplotlib.pyplot as plt

    figure, axis = plt.subplots(figsize=(3.7, 3.7))  # the confusion-matrix size for two classes
    axis.set_title("Validation confusion matrix (accuracy 0.741)")
    plots.fit_titles(figure)
    renderer = figure.canvas.get_renderer()
    extent = axis.title.get_window_extent(renderer)
    assert "\n" in axis.title.get_text()
    assert extent.x0 >= 0 and extent.x1 <= figure.bbox.width
    plt.close(figure)


def test_the_text_confusion_matrix_keeps_its_columns_apart():
    """Seen on a real run: `0320170` for the counts 320 and 170."""
    from kerasformers.tasks.classification import format_confusion_matrix

    lines = format_confusion_matrix([[320, 170], [12, 3]], ["0", "1"]).splitlines()
    assert lines[1].split() == ["0", "320", "170"] and lines[2].split() == ["1", "12", "3"]
    assert len({len(line) for line in lines}) == 1  # aligned: every line as wide

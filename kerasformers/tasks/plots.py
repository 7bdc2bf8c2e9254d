"""PNG plots of the task runs, drawn with matplotlib (the `plot` extra, imported lazily).

Every function writes one PNG file and returns its path. `check_available()`
raises `MissingExtraError` (with the `pip install` line) before a long run
starts if matplotlib is missing.
"""

import math
import pathlib
import textwrap

import numpy as np

from kerasformers.tasks.errors import require


def check_available():
    """Raises `MissingExtraError` when matplotlib is not installed."""
    _pyplot()


def _pyplot():
    matplotlib = require("matplotlib", "plot", "Plotting (pass --no-plots to skip it)")
    matplotlib.use("Agg", force=True)  # files only: no display needed
    import matplotlib.pyplot as plt

    return plt


def fit_titles(figure):
    """Wraps every axes title that is wider than the figure onto several lines, so that none is clipped."""
    figure.canvas.draw()
    renderer = figure.canvas.get_renderer()
    width = figure.bbox.width
    for axis in figure.axes:
        title = axis.title
        text = title.get_text()
        extent = title.get_window_extent(renderer)
        if text and extent.width > 0.95 * width:
            characters = max(10, int(len(text) * 0.9 * width / extent.width))
            title.set_text("\n".join(textwrap.wrap(text, characters)))


def _save(figure, path):
    path = pathlib.Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fit_titles(figure)
    figure.tight_layout()
    figure.savefig(path, dpi=110, bbox_inches="tight")  # nothing outside the saved image
    _pyplot().close(figure)
    return path


def training_curves(history, path, title="Training"):
    """One panel per quantity of a Keras history (`loss`, `accuracy`, …), training and validation.

    Args:
        history: dict `{name: [value per epoch]}` (`History.history`).
        path: where to write the PNG.
        title: str.

    Returns:
        `pathlib.Path` of the PNG.
    """
    plt = _pyplot()
    names = [k for k in history if not k.startswith("val_") and k != "learning_rate"]
    figure, axes = plt.subplots(1, max(1, len(names)), figsize=(4.5 * max(1, len(names)), 3.5), squeeze=False)
    for axis, name in zip(axes[0], names):
        for key, label in ((name, "training"), (f"val_{name}", "validation")):
            values = history.get(key)
            if values:
                axis.plot(range(1, len(values) + 1), values, marker="o", label=label)
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    return _save(figure, path)


def attention_heatmap(weights, source_tokens, target_tokens, path, title="Cross-attention"):
    """A `(target, source)` attention matrix with token labels.

    Args:
        weights: array `(len(target_tokens), len(source_tokens))`, rows sum to 1.
        source_tokens, target_tokens: lists of str (the axes' labels).
        path: where to write the PNG.
        title: str.
    """
    plt = _pyplot()
    weights = np.asarray(weights)
    width = 2.0 + 0.32 * len(source_tokens)
    height = 1.8 + 0.32 * len(target_tokens)
    figure, axis = plt.subplots(figsize=(max(4.0, width), max(3.0, height)))
    image = axis.imshow(weights, cmap="viridis", aspect="auto", vmin=0.0)
    axis.set_xticks(range(len(source_tokens)), source_tokens, rotation=90)
    axis.set_yticks(range(len(target_tokens)), target_tokens)
    axis.set_xlabel("source token")
    axis.set_ylabel("generated token")
    axis.set_title(title)
    figure.colorbar(image, ax=axis, fraction=0.046)
    return _save(figure, path)


def confusion_matrix(matrix, class_names, path, title="Confusion matrix"):
    """A confusion matrix (rows: true class, columns: predicted class) with counts in the cells."""
    plt = _pyplot()
    matrix = np.asarray(matrix)
    size = 2.5 + 0.6 * len(class_names)
    figure, axis = plt.subplots(figsize=(size, size))
    axis.imshow(matrix, cmap="Blues")
    axis.set_xticks(range(len(class_names)), class_names, rotation=45, ha="right")
    axis.set_yticks(range(len(class_names)), class_names)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    limit = matrix.max() / 2 if matrix.size else 0
    for (i, j), count in np.ndenumerate(matrix):
        axis.text(j, i, str(count), ha="center", va="center", color="white" if count > limit else "black")
    axis.set_title(title)
    return _save(figure, path)


def image_predictions(images, labels, predictions, class_names, path, title="Predictions"):
    """A grid of images titled `predicted (true)`, wrong ones in red.

    Args:
        images: array `(n, height, width, channels)` in [0, 1].
        labels, predictions: int arrays `(n,)`.
        class_names: list of str.
    """
    plt = _pyplot()
    count = len(images)
    columns = min(count, 8)
    rows = max(1, math.ceil(count / columns))
    figure, axes = plt.subplots(rows, columns, figsize=(1.6 * columns, 1.9 * rows), squeeze=False)
    for index, axis in enumerate(axes.flat):
        axis.axis("off")
        if index >= count:
            continue
        image = np.asarray(images[index])
        if image.shape[-1] == 1:
            axis.imshow(image[..., 0], cmap="gray_r" if image.mean() < 0.5 else "gray", vmin=0, vmax=1)
        else:
            axis.imshow(np.clip(image, 0, 1))
        right = predictions[index] == labels[index]
        axis.set_title(
            f"{class_names[predictions[index]]} ({class_names[labels[index]]})",
            fontsize=8, color="black" if right else "red",
        )
    figure.suptitle(title + ": predicted (true)")
    return _save(figure, path)


def accuracy_over_time(curves, path, title="Validation accuracy against training time"):
    """Validation accuracy against cumulative training seconds, one line per model.

    Args:
        curves: dict `{label: (seconds, accuracies)}`.
        path: where to write the PNG.
    """
    plt = _pyplot()
    figure, axis = plt.subplots(figsize=(6.5, 4.0))
    for label, (seconds, accuracies) in curves.items():
        axis.plot(seconds, accuracies, marker="o", label=label)
    axis.set_xlabel("training time (s, evaluation excluded)")
    axis.set_ylabel("validation accuracy")
    axis.set_title(title)
    axis.grid(alpha=0.3)
    axis.legend()
    return _save(figure, path)

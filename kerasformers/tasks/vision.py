"""Image classification: a `VisionTransformer` on a real image dataset, with accuracy and a plot of predictions.

Data, in order: `--data PATH.npz` (arrays `x_train`, `y_train`, `x_test`,
`y_test`, the layout of Keras' `mnist.npz`), `--dataset digits`
(scikit-learn's bundled 8×8 digits: offline, needs the `vision` extra), or
`--dataset mnist` / `cifar10` from `keras.datasets` (downloaded once; when
there is no network, MNIST falls back to the 8×8 digits if scikit-learn is
installed).

    from kerasformers.tasks import vision
    result = vision.train(dataset="digits", epochs=5, output="runs/digits")
    result.metrics["accuracy"], result.plots["predictions"]
"""

import pathlib

import numpy as np
import tensorflow as tf

from kerasformers.models import VisionTransformer
from kerasformers.tasks import _args, _common, runs
from kerasformers.tasks import plots as plotting
from kerasformers.tasks.errors import DownloadError, MissingExtraError, require

TASK = "vision"
DATASETS = ("mnist", "cifar10", "digits")
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]


def _digits(seed):
    datasets = require("sklearn.datasets", "vision", "The offline 8x8 digits dataset")
    digits = datasets.load_digits()
    images = (digits.images / 16.0).astype("float32")[..., None]  # (1797, 8, 8, 1) in [0, 1]
    order = np.random.default_rng(seed).permutation(len(images))
    cut = int(len(images) * 0.8)
    train, test = order[:cut], order[cut:]
    labels = digits.target.astype("int32")
    return (images[train], labels[train]), (images[test], labels[test]), [str(i) for i in range(10)], "digits 8x8"


def _keras_dataset(name):
    from keras import datasets

    module = {"mnist": datasets.mnist, "cifar10": datasets.cifar10}[name]
    try:
        (x_train, y_train), (x_test, y_test) = module.load_data()
    except Exception as error:  # keras.utils.get_file raises a bare Exception when offline
        raise DownloadError(f"Could not download {name} with keras.datasets ({error}).") from None
    return x_train, y_train, x_test, y_test


def _scale(images):
    images = np.asarray(images)
    if images.ndim == 3:
        images = images[..., None]  # grayscale: add the channel axis
    scale = 255.0 if images.max() > 1.0 else 1.0
    return (images / scale).astype("float32")


def load_images(dataset="mnist", data=None, seed=0):
    """`((x_train, y_train), (x_test, y_test), class_names, name)`, images float32 in [0, 1], NHWC.

    Raises:
        FileNotFoundError / ValueError: a bad `data` file.
        DownloadError: `mnist`/`cifar10` offline (and, for MNIST, no scikit-learn to fall back on).
        MissingExtraError: `digits` without scikit-learn.
    """
    if data is not None:
        path = pathlib.Path(data)
        if not path.is_file():
            raise FileNotFoundError(f"No such file: '{path}'")
        try:
            with np.load(path) as arrays:
                x_train, y_train, x_test, y_test = (arrays[k] for k in ("x_train", "y_train", "x_test", "y_test"))
        except KeyError as error:
            raise ValueError(f"'{path}' must hold arrays x_train, y_train, x_test, y_test (missing {error}).") from None
        except (OSError, ValueError) as error:
            raise ValueError(f"'{path}' is not a NumPy .npz file ({error}).") from None
        name = path.name
    elif dataset == "digits":
        return _digits(seed)
    elif dataset in ("mnist", "cifar10"):
        try:
            x_train, y_train, x_test, y_test = _keras_dataset(dataset)
        except DownloadError as error:
            if dataset == "mnist":
                try:
                    digits = _digits(seed)
                except MissingExtraError:
                    digits = None
                if digits is not None:
                    print(f"{error} Using scikit-learn's bundled 8x8 digits instead (offline).")
                    return digits
            raise DownloadError(
                f"{error} Pass --data PATH.npz (arrays x_train, y_train, x_test, y_test, as in Keras' mnist.npz), "
                "or --dataset digits for scikit-learn's offline 8x8 digits "
                "(pip install \"kerasformers[vision]\")."
            ) from None
        name = dataset
    else:
        raise ValueError(f"Unknown dataset {dataset!r}. Known: {', '.join(DATASETS)}")
    x_train, x_test = _scale(x_train), _scale(x_test)
    y_train, y_test = np.asarray(y_train).reshape(-1).astype("int32"), np.asarray(y_test).reshape(-1).astype("int32")
    if x_train.ndim != 4 or x_train.shape[1] != x_train.shape[2] or x_train.shape[1:] != x_test.shape[1:]:
        raise ValueError(f"Images must be square, (n, size, size[, channels]). Received x_train {x_train.shape}, "
                         f"x_test {x_test.shape}.")
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise ValueError("x_train/y_train (or x_test/y_test) differ in length.")
    count = int(max(y_train.max(), y_test.max())) + 1
    names = CIFAR10_CLASSES if dataset == "cifar10" and data is None else [str(i) for i in range(count)]
    return (x_train, y_train), (x_test, y_test), names, name


def _dataset(images, labels, batch_size, shuffle, seed):
    data = tf.data.Dataset.from_tensor_slices(({"images": images}, labels))
    if shuffle:
        data = data.shuffle(len(images), seed=seed)
    return data.batch(batch_size).prefetch(tf.data.AUTOTUNE)


def train(
    dataset="mnist",
    data=None,
    max_examples=None,
    patch_size=None,
    preset="tiny",
    num_layers=None,
    model_dim=None,
    num_heads=None,
    hidden_dim=None,
    epochs=None,
    batch_size=None,
    learning_rate=1e-3,
    steps_per_epoch=None,
    seed=0,
    precision="float32",
    output=None,
    overwrite=False,
    plots=True,
    verbose=1,
):
    """Trains a ViT end to end; returns a `TaskResult` (no export: serving covers text tasks).

    Steps: load images → `VisionTransformer.from_preset(preset)` with
    `patch_size` (default: 2 for 8×8 images, 4 otherwise) → Adam with the
    warm-up + inverse-square-root schedule → `kerasformers.training.fit`
    (TensorBoard scalars, best weights; validated on the test split) → test
    accuracy → plots (`training_curves.png`, `predictions.png`) →
    `model.keras`.

    Args:
        dataset: `"mnist"` (default), `"cifar10"` or `"digits"`.
        data: `.npz` file with `x_train`, `y_train`, `x_test`, `y_test`
            (overrides `dataset`).
        max_examples: int or None. Keep at most this many training images.
        patch_size: int or None. Must divide the image size.
        preset, num_layers, model_dim, num_heads, hidden_dim: model size
            (`VisionTransformer.presets`).
        epochs, batch_size: ints. Default to 10 epochs of 32 images for
            small datasets (under 10,000 training images, e.g. the 8×8
            digits) and 3 epochs of 128 otherwise.
        learning_rate, steps_per_epoch, seed: training.
        precision: `"float32"` (default), `"mixed_bfloat16"`, `"mixed_float16"` or
            `"auto"` (`kerasformers.training.resolve_precision`): the model's dtype
            policy; logits and loss stay float32.
        output, overwrite, plots, verbose: as in `kerasformers.tasks.translation.train`.

    Raises:
        FileNotFoundError / ValueError: a bad `data` file, unknown dataset or preset.
        kerasformers.tasks.errors.DownloadError: offline without a fallback.
        kerasformers.tasks.errors.MissingExtraError: `digits` without scikit-learn.
    """
    timer = _common.Timer()
    _common.check_preset(VisionTransformer, preset)
    if data is None and dataset not in DATASETS:
        raise ValueError(f"Unknown dataset {dataset!r}. Known: {', '.join(DATASETS)}")
    if plots:
        plotting.check_available()
    policy = _common.resolve_precision(precision)
    _common.set_seed(seed)
    run_dir = _common.prepare_run_dir(output, TASK, overwrite)

    (x_train, y_train), (x_test, y_test), names, name = load_images(dataset, data, seed)
    if max_examples:
        x_train, y_train = x_train[:max_examples], y_train[:max_examples]
    run_dir.mkdir(parents=True, exist_ok=True)
    small = len(x_train) < 10_000
    epochs = epochs or (10 if small else 3)
    batch_size = batch_size or (32 if small else 128)
    image_size, channels = x_train.shape[1], x_train.shape[3]
    patch_size = patch_size or (2 if image_size <= 16 else 4)
    if image_size % patch_size:
        raise ValueError(f"--patch-size {patch_size} does not divide the image size {image_size}.")
    print(f"{name}: {len(x_train)} training and {len(x_test)} test images of {image_size}x{image_size}x{channels}, "
          f"{len(names)} classes; {(image_size // patch_size) ** 2} patches of {patch_size}x{patch_size}")
    train_data = _dataset(x_train, y_train, batch_size, True, seed)
    test_data = _dataset(x_test, y_test, batch_size, False, seed)

    model = VisionTransformer.from_preset(
        preset, dtype=policy, image_size=image_size, patch_size=patch_size, num_classes=len(names),
        num_channels=channels,
        **_common.model_overrides(num_layers=num_layers, model_dim=model_dim, num_heads=num_heads,
                                  hidden_dim=hidden_dim),
    )
    _common.compile_recipe(model, train_data, epochs=epochs, steps_per_epoch=steps_per_epoch,
                           learning_rate=learning_rate)
    print(f"VisionTransformer ({preset}): {model.count_params():,} parameters")
    history = _common.fit(model, train_data, test_data, epochs=epochs, run_dir=run_dir,
                          steps_per_epoch=steps_per_epoch, verbose=verbose)

    logits = model.predict({"images": x_test}, batch_size=batch_size, verbose=verbose)
    predictions = np.asarray(logits).argmax(axis=-1)
    accuracy = float(np.mean(predictions == y_test))
    metrics = {"accuracy": accuracy, "chance_accuracy": float(np.bincount(y_test).max() / len(y_test))}
    if history.get("val_loss"):
        metrics["val_loss"] = min(history["val_loss"])
    print(f"Test accuracy: {accuracy:.4f} on {len(x_test)} images")
    _common.write_scalar_summaries(run_dir / _common.LOG_DIR / "validation", metrics, epochs)

    figures = _common.training_curves(history, run_dir, f"ViT on {name}", plots)
    if plots:
        shown = np.random.default_rng(seed).choice(len(x_test), size=min(16, len(x_test)), replace=False)
        figures["predictions"] = plotting.image_predictions(
            x_test[shown], y_test[shown], predictions[shown], names, run_dir / "predictions.png",
            title=f"ViT on {name}, test accuracy {accuracy:.3f}",
        )
    model_path = runs.save_run(run_dir, TASK, model, {}, dataset=name, class_names=names, patch_size=patch_size,
                               preset=preset, precision=policy, metrics=metrics)
    examples = [f"image {i}: predicted {names[predictions[i]]}, true {names[y_test[i]]}" for i in range(5)]
    result = _common.TaskResult(TASK, run_dir, metrics, figures, model_path, None, examples)
    return _common.finish(result, timer.elapsed)


def add_arguments(parser):
    """Adds this task's options to an `argparse` parser (dests are `train()` keywords)."""
    data = parser.add_argument_group("data")
    data.add_argument("--dataset", choices=DATASETS, default="mnist",
                      help="keras.datasets mnist/cifar10 (downloaded; MNIST falls back to digits offline) or "
                           "scikit-learn's bundled 8x8 digits (default mnist)")
    data.add_argument("--data", metavar="PATH.npz", help="arrays x_train, y_train, x_test, y_test (as mnist.npz)")
    data.add_argument("--max-examples", type=_args.positive_int, metavar="N", help="keep at most N training images")
    data.add_argument("--patch-size", type=_args.positive_int, help="default 2 for 8x8 images, else 4")
    _args.add_training_arguments(parser, epochs=None, batch_size=None, max_length=False, learning_rate=1e-3,
                                 presets=sorted(VisionTransformer.presets))
    _args.add_output_arguments(parser, TASK)
    return parser


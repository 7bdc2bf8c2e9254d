"""Image classification: a `VisionTransformer` on a real image dataset, with accuracy and a plot of predictions.

Data, in order: `--data PATH.npz` (arrays `x_train`, `y_train`, `x_test`,
`y_test`, the layout of Keras' `mnist.npz`), `--dataset digits`
(scikit-learn's bundled 8×8 digits: offline, needs the `vision` extra), or
`--dataset mnist` / `cifar10` from `keras.datasets` (downloaded once; when
there is no network, MNIST falls back to the 8×8 digits if scikit-learn is
installed).

    from kerasformers.tasks import run
    result = run("vision", dataset="digits", epochs=5, output="runs/digits")
    result.metrics["accuracy"], result.plots["predictions"]
"""

import pathlib

import numpy as np
import tensorflow as tf

from kerasformers.models import VisionTransformer
from kerasformers.tasks import base, plots
from kerasformers.tasks.arguments import positive_int
from kerasformers.tasks.errors import DownloadError, MissingExtraError, require
from kerasformers.tasks.registry import register

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


# ------------------------------------------------------------------------------ the task
@register
class Vision(base.Task):
    """Images → `VisionTransformer` (patches of `--patch-size`) → test accuracy and a plot of predictions."""

    name = "vision"
    summary = __doc__.splitlines()[0]
    model_class = VisionTransformer
    defaults = dict(epochs=None, batch_size=None)
    data_help = "arrays x_train, y_train, x_test, y_test in a .npz file (as Keras' mnist.npz)"
    demo = False
    sequences = False

    def add_arguments(self, parser, groups):
        data = groups["data"]
        data.add_argument("--dataset", choices=DATASETS, default="mnist",
                          help="keras.datasets mnist/cifar10 (downloaded; MNIST falls back to digits offline) or "
                               "scikit-learn's bundled 8x8 digits (default mnist)")
        data.add_argument("--max-examples", type=positive_int, metavar="N", help="keep at most N training images")
        data.add_argument("--patch-size", type=positive_int, help="default 2 for 8x8 images, else 4")

    def load_data(self, run):
        o = run.options
        (x_train, y_train), (x_test, y_test), names, name = load_images(o.dataset, o.data, o.seed)
        if o.max_examples:
            x_train, y_train = x_train[: o.max_examples], y_train[: o.max_examples]
        small = len(x_train) < 10_000  # e.g. the 8x8 digits: more, smaller steps
        o.epochs = o.epochs or (10 if small else 3)
        o.batch_size = o.batch_size or (32 if small else 128)
        image_size, channels = x_train.shape[1], x_train.shape[3]
        o.patch_size = o.patch_size or (2 if image_size <= 16 else 4)
        if image_size % o.patch_size:
            raise ValueError(f"--patch-size {o.patch_size} does not divide the image size {image_size}.")
        print(f"{name}: {len(x_train)} training and {len(x_test)} test images of {image_size}x{image_size}x{channels}, "
              f"{len(names)} classes; {(image_size // o.patch_size) ** 2} patches of {o.patch_size}x{o.patch_size}")
        return dict(train=(x_train, y_train), test=(x_test, y_test), class_names=names, name=name)

    def build_datasets(self, run):
        o, data = run.options, run.data
        return (_dataset(*data["train"], o.batch_size, True, o.seed), _dataset(*data["test"], o.batch_size, False, o.seed))

    def model_arguments(self, run):
        x_train = run.data["train"][0]
        return dict(image_size=x_train.shape[1], patch_size=run.options.patch_size,
                    num_classes=len(run.data["class_names"]), num_channels=x_train.shape[3])

    def evaluate(self, run):
        (x_test, y_test), names = run.data["test"], run.data["class_names"]
        logits = run.model.predict({"images": x_test}, batch_size=run.options.batch_size, verbose=run.options.verbose)
        predictions = run.extras["predictions"] = np.asarray(logits).argmax(axis=-1)
        metrics = {"accuracy": float(np.mean(predictions == y_test)),
                   "chance_accuracy": float(np.bincount(y_test).max() / len(y_test)),
                   **({"val_loss": min(run.history["val_loss"])} if run.history.get("val_loss") else {})}
        print(f"Test accuracy: {metrics['accuracy']:.4f} on {len(x_test)} images")
        return metrics, [f"image {i}: predicted {names[predictions[i]]}, true {names[y_test[i]]}" for i in range(5)]

    def plots(self, run):
        (x_test, y_test), predictions = run.data["test"], run.extras["predictions"]
        shown = np.random.default_rng(run.options.seed).choice(len(x_test), size=min(16, len(x_test)), replace=False)
        return {"predictions": plots.image_predictions(
            x_test[shown], y_test[shown], predictions[shown], run.data["class_names"], run.run_dir / "predictions.png",
            title=f"ViT on {run.data['name']}, test accuracy {run.metrics['accuracy']:.3f}")}

    def run_info(self, run):
        return dict(dataset=run.data["name"], class_names=run.data["class_names"], patch_size=run.options.patch_size)

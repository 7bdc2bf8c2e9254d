"""Train a Vision Transformer on a real image dataset, report accuracy and plot a few predictions.

    python examples/vision_transformer.py                   # MNIST (keras.datasets; downloaded once)
    python examples/vision_transformer.py --dataset cifar10 --epochs 10
    python examples/vision_transformer.py --dataset digits  # offline: scikit-learn's 8x8 digits
                                                            # (pip install "kerasformers[vision]")
    python examples/vision_transformer.py --data mnist.npz  # x_train, y_train, x_test, y_test arrays

Writes runs/vision-<timestamp>/ (TensorBoard logs, checkpoints, training_curves.png,
predictions.png, model.keras). Offline, MNIST falls back to the 8x8 digits when scikit-learn is installed.
"""

from kerasformers import tasks


def main(argv=None):
    """`kerasformers train vision` as a script; returns the `TaskResult`."""
    return tasks.command_line("vision", argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()

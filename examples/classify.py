"""Train a sentiment classifier on labelled TSV, report accuracy and a confusion matrix, export a SavedModel.

    python examples/classify.py --demo         # offline, about a minute: generated movie-review sentences
    python examples/classify.py                # GLUE SST-2 (../shared/data, or downloaded), validated on dev
    python examples/classify.py --data train.tsv --validation-data dev.tsv --text-column sentence

Writes runs/classification-<timestamp>/ (TensorBoard logs, checkpoints, training_curves.png,
confusion_matrix.png, model.keras, tokenizers/) and saved_models/classifier/<version>/; then
`kerasformers classify saved_models/classifier "a gripping, beautifully acted film"` uses it.
"""

import argparse

from kerasformers.cli import user_errors
from kerasformers.tasks import classification


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    classification.add_arguments(parser)
    args = parser.parse_args(argv)
    with user_errors(program=parser.prog):
        return classification.train(**vars(args))


if __name__ == "__main__":
    main()

"""Train a sentiment classifier on labelled TSV, report accuracy and a confusion matrix, export a SavedModel.

    python examples/classify.py --demo         # offline, about a minute: generated movie-review sentences
    python examples/classify.py                # GLUE SST-2 (../shared/data, or downloaded), validated on dev
    python examples/classify.py --data train.tsv --validation-data dev.tsv --text-column sentence

Writes runs/classification-<timestamp>/ (TensorBoard logs, checkpoints, training_curves.png,
confusion_matrix.png, model.keras, tokenizers/) and saved_models/classification/<version>/; then
`kerasformers classify saved_models/classification "a gripping, beautifully acted film"` uses it.
"""

from kerasformers import tasks


def main(argv=None):
    """`kerasformers train classification` as a script; returns the `TaskResult`."""
    return tasks.command_line("classification", argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()

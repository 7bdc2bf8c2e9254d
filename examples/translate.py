"""Train a translator on tab-separated sentence pairs, report BLEU, plot attention, export a SavedModel.

    python examples/translate.py --demo        # offline, about a minute: "March 3rd, 2021" -> "2021-03-03"
    python examples/translate.py               # Tatoeba Spanish -> English (../shared/data, or downloaded),
                                               # the mini preset: about 21 minutes on two CPU cores
    python examples/translate.py --data spa.txt --source-column 1 --target-column 0 --preset tiny --batch-size 64

Writes runs/translation-<timestamp>/ (TensorBoard logs, checkpoints, training_curves.png,
attention.png, model.keras, tokenizers/) and saved_models/translation/<version>/; then
`kerasformers translate saved_models/translation "¿dónde está la biblioteca?"` uses it.
"""

from kerasformers import tasks


def main(argv=None):
    """`kerasformers train translation` as a script; returns the `TaskResult`."""
    return tasks.command_line("translation", argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()

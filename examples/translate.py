"""Train a translator on tab-separated sentence pairs, report BLEU, plot attention, export a SavedModel.

    python examples/translate.py --demo        # offline, about a minute: "March 3rd, 2021" -> "2021-03-03"
    python examples/translate.py               # Tatoeba Spanish -> English (../shared/data, or downloaded)
    python examples/translate.py --data spa.txt --source-column 1 --target-column 0 --epochs 10

Writes runs/translation-<timestamp>/ (TensorBoard logs, checkpoints, training_curves.png,
attention.png, model.keras, tokenizers/) and saved_models/translator/<version>/; then
`kerasformers translate saved_models/translator "¿dónde está la biblioteca?"` uses it.
"""

import argparse

from kerasformers.cli import user_errors
from kerasformers.tasks import translation


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    translation.add_arguments(parser)
    args = parser.parse_args(argv)
    with user_errors(program=parser.prog):
        return translation.train(**vars(args))


if __name__ == "__main__":
    main()

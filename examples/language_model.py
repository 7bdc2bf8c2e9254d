"""Train a GPT-style language model on a plain text file, report perplexity, print greedy and top-p samples, export.

    python examples/language_model.py --demo   # offline, about a minute: a generated play
    python examples/language_model.py          # tiny Shakespeare (../shared/data, or downloaded), characters
    python examples/language_model.py --data my_text.txt --epochs 3 --max-length 256

Writes runs/language_model-<timestamp>/ (TensorBoard logs with text samples, checkpoints,
training_curves.png, model.keras, tokenizers/) and saved_models/language_model/<version>/; then
`kerasformers generate saved_models/language_model "ROMEO:"` uses it.
"""

import argparse

from kerasformers.cli import user_errors
from kerasformers.tasks import language_modeling


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    language_modeling.add_arguments(parser)
    args = parser.parse_args(argv)
    with user_errors(program=parser.prog):
        return language_modeling.train(**vars(args))


if __name__ == "__main__":
    main()

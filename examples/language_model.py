"""Train a GPT-style language model on a plain text file, report perplexity, print greedy and top-p samples, export.

    python examples/language_model.py --demo   # offline, about a minute: a generated play
    python examples/language_model.py          # tiny Shakespeare (../shared/data, or downloaded), characters
    python examples/language_model.py --data my_text.txt --epochs 3 --max-length 256

Writes runs/language-model-<timestamp>/ (TensorBoard logs with text samples, checkpoints,
training_curves.png, model.keras, tokenizers/) and saved_models/language-model/<version>/; then
`kerasformers generate saved_models/language-model "ROMEO:"` uses it.
"""

from kerasformers import tasks


def main(argv=None):
    """`kerasformers train language-model` as a script; returns the `TaskResult`."""
    return tasks.command_line("language-model", argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()

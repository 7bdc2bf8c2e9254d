"""An LSTM against a Transformer of about the same parameter count, on the same data and batches, measured.

The seed blog claimed Transformers beat recurrent networks; this measures it. Both models are
trained with the same optimizer recipe on the same batches; the script prints both parameter
counts, training tokens/second, best validation accuracy, accuracy against wall-clock time,
and a verdict computed from those numbers, whichever way it goes.

    python examples/lstm_vs_transformer.py --demo   # offline: generated review sentences
    python examples/lstm_vs_transformer.py          # SST-2 (../shared/data, or downloaded), 20k sentences
    python examples/lstm_vs_transformer.py --data train.tsv --validation-data dev.tsv --epochs 6

Writes runs/lstm_vs_transformer-<timestamp>/ (accuracy_vs_time.png, metrics.json, TensorBoard
logs of both models under transformer/logs and lstm/logs).
"""

import argparse

from kerasformers.cli import user_errors
from kerasformers.tasks import comparison


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    comparison.add_arguments(parser)
    args = parser.parse_args(argv)
    with user_errors(program=parser.prog):
        return comparison.train(**vars(args))


if __name__ == "__main__":
    main()

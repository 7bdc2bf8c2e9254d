"""An LSTM against a Transformer of about the same parameter count, on the same data and batches, measured.

The seed blog claimed Transformers beat recurrent networks; this measures it. Both models are
trained with the same optimizer recipe on the same batches; the script prints both parameter
counts, training tokens/second, best validation accuracy, accuracy against wall-clock time,
and a verdict computed from those numbers, whichever way it goes.

    python examples/lstm_vs_transformer.py --demo   # offline: generated review sentences
    python examples/lstm_vs_transformer.py          # SST-2 (../shared/data, or downloaded), 20k sentences
    python examples/lstm_vs_transformer.py --data train.tsv --validation-data dev.tsv --epochs 6

Writes runs/lstm-transformer-<timestamp>/ (accuracy_vs_time.png, metrics.json, TensorBoard
logs of both models under transformer/logs and lstm/logs).
"""

from kerasformers import tasks


def main(argv=None):
    """`kerasformers compare lstm-transformer` as a script; returns the `TaskResult`."""
    return tasks.command_line("lstm-transformer", argv, description=__doc__.splitlines()[0])


if __name__ == "__main__":
    main()

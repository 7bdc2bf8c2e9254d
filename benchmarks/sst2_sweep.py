"""SST-2 from scratch: our classifier's sizes compared on the validation split only (the test split is never read).

The split, vocabulary, recipe and evaluation of `benchmarks/quality.py --task sst2` (872 whole training
sentences for validation, none of their phrases in training), each size trained for a short budget
(150 s by default: the validation accuracy peaks within the first two minutes) and evaluated every 15 s.
It prints each size's best validation accuracy; the chosen size then runs once, side by side with the
reference, in `quality.py`.

    python benchmarks/sst2_sweep.py                  # every size, about 12 minutes
    python benchmarks/sst2_sweep.py --sizes B C --seconds 300
    python benchmarks/sst2_sweep.py --sizes C --ema 0 0.999 --seeds 0 1 2   # weight averaging, size C
    python benchmarks/sst2_sweep.py --sizes C --ema 0.9995 --token-dropout 0 0.1 --decay-seconds 0 150 \
        --seeds 0 1 2 --seconds 180      # word dropout and a schedule that ends early: every combination
    python benchmarks/sst2_sweep.py --sizes C --ema 0.9995 --decay-seconds 150 --dropout 0.3 0.4 \
        --weight-decay 0.05 0.2 --seeds 0 1 2 --seconds 150      # regularisation: every combination
    python benchmarks/sst2_sweep.py --sizes C --dropout 0.4 --ema 0.9995 --decay-seconds 150 \
        --front-ends mean conv3-mean_max --seeds 0 1 2 3 4      # a convolutional front end and max pooling

`--ema M`: AdamW keeps Keras' moving average of the weights (`use_ema=True`, momentum M; 0: none),
and every evaluation, and the weights kept, are the average's. `--token-dropout R`: word dropout on the
training batches (`quality.token_dropout`). `--decay-seconds S`: the learning rate warms up linearly over S/10 s
to `--peak` and decays linearly to zero at S s (`quality.TimeSchedule`), in place of the paper's step schedule.
`--dropout R`: every dropout rate of the size set to R (default: the size's own). `--weight-decay W`: AdamW's
decoupled weight decay (default `quality.SST2_WEIGHT_DECAY`). `--label-smoothing E`: the loss's label smoothing
(default `quality.SST2_LABEL_SMOOTHING`). `--front-ends K-P`: a `LocalConvolution` of width K before the encoder
("conv3-"; none without the prefix) and the classifier's pooling P (`mean`, `max`, `mean_max`), e.g. `mean` (the
plain classifier) or `conv3-mean_max`; default: the size's own.
"""

import argparse
import concurrent.futures
import itertools
import multiprocessing
import pathlib
import sys

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

import quality  # noqa: E402  (first: kerasformers imports TensorFlow quietly)

import keras  # noqa: E402
import numpy as np  # noqa: E402

from kerasformers import checks, text  # noqa: E402

RATE = checks.argparse_type(checks.check_rate)  # a float in [0, 1); the error names the value

SIZES = {
    "A": dict(num_layers=2, model_dim=128, num_heads=4, hidden_dim=256, dropout=0.2),  # quality.py's until C
    "B": dict(num_layers=1, model_dim=64, num_heads=2, hidden_dim=128, dropout=0.2),
    "C": dict(num_layers=2, model_dim=64, num_heads=4, hidden_dim=128, dropout=0.3),  # SST2_SIZE 12-03/04
    "D": dict(num_layers=2, model_dim=128, num_heads=4, hidden_dim=256, dropout=0.4),
}


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=quality.DEFAULT_DATA)
    parser.add_argument("--sizes", nargs="+", choices=list(SIZES), default=list(SIZES))
    parser.add_argument("--seconds", type=float, default=150.0)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0],
                        help="each seed is another validation fold (and initialisation)")
    parser.add_argument("--ema", type=float, nargs="+", default=[0.0],
                        help="moving-average momenta to compare (0: no average)")
    parser.add_argument("--token-dropout", type=float, nargs="+", default=[0.0],
                        help="word-dropout rates to compare (quality.token_dropout; 0: none)")
    parser.add_argument("--decay-seconds", type=float, nargs="+", default=[0.0],
                        help="learning-rate schedules to compare: S > 0 warms up over S/10 s and decays linearly "
                             "to zero at S s of training (quality.TimeSchedule); 0: the paper's step schedule")
    parser.add_argument("--peak", type=float, default=3e-3, help="peak learning rate of the --decay-seconds schedules")
    parser.add_argument("--dropout", type=RATE, nargs="+", default=[None],
                        help="dropout rates to compare, each set on every dropout of the size (default: the size's)")
    parser.add_argument("--weight-decay", type=float, nargs="+", default=[quality.SST2_WEIGHT_DECAY],
                        help="AdamW weight decays to compare (default quality.SST2_WEIGHT_DECAY)")
    parser.add_argument("--label-smoothing", type=RATE, nargs="+",
                        default=[quality.SST2_LABEL_SMOOTHING],
                        help="label smoothings to compare (default quality.SST2_LABEL_SMOOTHING)")
    parser.add_argument("--front-ends", type=front_end, nargs="+", default=[None],
                        help="front ends and poolings to compare, as [convK-]POOLING: e.g. mean conv3-mean_max "
                             "(default: the size's own)")
    args = parser.parse_args(argv)
    if any(w < 0 for w in args.weight_decay):
        parser.error(f"--weight-decay must be >= 0, received {args.weight_decay}")
    if not args.data_dir.is_dir():
        sys.exit(f"No data at {args.data_dir}: pass --data-dir (the shared corpora folder).")
    rows = []
    # Each run in a new process: a process keeps the memory maps of every XLA program it compiled, and about 14
    # runs' worth exhausted the kernel's limit (`vm.max_map_count`) in one process (2026-12-04).
    spawn = multiprocessing.get_context("spawn")
    for seed in args.seeds:
        for key in itertools.product(*grid(args)):
            with concurrent.futures.ProcessPoolExecutor(1, mp_context=spawn) as child:
                best = child.submit(run, args.data_dir, seed, key, args.seconds, args.peak).result()
            rows.append((key, seed, best))
    print("\nrecipe | best validation accuracy per seed | median")
    for key in itertools.product(*grid(args)):
        values = [best for k, _, best in rows if k == key]
        print(f"{describe(key, args.peak)} | {' '.join(f'{v:.4f}' for v in values)} | {float(np.median(values)):.4f}")


def run(data_dir, seed, key, seconds, peak):
    """One point of the grid on one validation fold (`seed`): trains, prints, returns the best validation accuracy."""
    train = text.read_labelled(data_dir / "sst2-glue" / "train.tsv")
    train, val = text.split_sentences(train, 872, seed=seed)
    tokenizer = text.make_tokenizer("unigram", train.texts, 8000, lowercase=True)
    val_ids = {"token_ids": text.encode(tokenizer, val.texts, 64)}

    def accuracy(model):
        probs = model.predict(val_ids, verbose=0, batch_size=256)
        return float((np.asarray(probs).argmax(-1) == np.asarray(val.labels)).mean())

    name, ema, drop, decay, dropout, decay_w, smoothing, front = key
    size = dict(SIZES[name], **({} if dropout is None else {"dropout": dropout}),
                **(front_end_options(front) if front else {}))
    label = describe(key, peak) + f" seed {seed}"
    keras.utils.set_random_seed(seed)
    model = quality.sst2_classifier(tokenizer, 64, size, ema=ema or None, time_scheduled=bool(decay),
                                    weight_decay=decay_w, label_smoothing=smoothing)
    data = text.classification_dataset(train.texts, train.labels, tokenizer, 64, 64, seed=seed)
    one_pass = int(data.cardinality())  # the warm-up reaches every bucket's partial last batch
    data = quality.token_dropout(data.repeat(), drop, seed=seed)
    budget = quality.TimeBudget(seconds, accuracy, 15, True, 0.83, label)
    schedule = [quality.TimeSchedule(budget, peak, seconds=decay)] if decay else []
    quality._fit_steps(model, data, budget, label, lambda m: {"validation": accuracy(m)}, callbacks=schedule,
                       warm_up_scan=one_pass)
    print(f"size {label} {size}: {model.count_params():,} parameters, best validation accuracy "
          f"{budget.best():.4f} at {budget.best_at[0]:.0f} s", flush=True)
    return budget.best()


def grid(args):
    """The swept axes, in the order of a key's fields (`describe`)."""
    return (args.sizes, args.ema, args.token_dropout, args.decay_seconds, args.dropout, args.weight_decay,
            args.label_smoothing, args.front_ends)


def front_end(value):
    """`[convK-]POOLING` (argparse type): the value itself, once `front_end_options` can read it."""
    front_end_options(value)
    return value


def front_end_options(value):
    """The classifier options `conv_kernel_size` and `pooling` a `[convK-]POOLING` text names."""
    conv, _, pooling = value.rpartition("-")
    kernel = conv[4:] if conv.startswith("conv") else ""
    if pooling not in ("mean", "max", "mean_max") or (conv and not (kernel.isdigit() and int(kernel) > 0)):
        raise argparse.ArgumentTypeError(f"expected [convK-]POOLING, e.g. mean or conv3-mean_max; received {value!r}")
    return {"pooling": pooling, "conv_kernel_size": int(kernel) if conv else None}


def describe(key, peak):
    """A row label for one point of `grid`; weight decay and label smoothing are named only when they differ
    from the recipe's."""
    name, ema, drop, decay, dropout, weight_decay, label_smoothing, front = key
    parts = [name] + ([front] if front else [])
    if dropout is not None:
        parts.append(f"dropout {dropout:g}")
    if ema:
        parts.append(f"ema {ema:g}")
    if drop:
        parts.append(f"token dropout {drop:g}")
    parts.append(f"linear decay to 0 at {decay:g} s, peak {peak:g}" if decay else "paper schedule")
    if weight_decay != quality.SST2_WEIGHT_DECAY:
        parts.append(f"weight decay {weight_decay:g}")
    if label_smoothing != quality.SST2_LABEL_SMOOTHING:
        parts.append(f"label smoothing {label_smoothing:g}")
    return ", ".join(parts)


if __name__ == "__main__":
    main()

"""The command line's translation defaults on a real corpus: candidates compared on Tatoeba's validation pairs only.

`kerasformers train translation` runs as a user runs it, once per candidate setting, on the
split of `benchmarks/quality.py --task translation` (seed 0): the 1,000 test pairs are never
written or read here; the 500 validation pairs are given as both `--validation-*` and
`--test-*` files, so the BLEU each run prints at its end is validation BLEU (greedy, cased,
sacrebleu) and the comparison touches no test pair. The training pairs are written, one sentence
per line, to a temporary folder (`--source-file` / `--target-file`). Each candidate's wall time
is the whole command: vocabulary, training, validation after every epoch, translation, saving.

    python benchmarks/cli_defaults.py                         # every candidate, about 50 minutes
    python benchmarks/cli_defaults.py --candidates default wide
    python benchmarks/cli_defaults.py --quick                 # smoke run, a few minutes (not a result)
"""

import argparse
import json
import pathlib
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
DEFAULT_DATA = ROOT.parent / "shared" / "data"

# Extra command-line flags of each candidate (the rest: the command's defaults).
CANDIDATES = {
    # the command's defaults before this comparison (spelled out: they are no longer its defaults)
    "default": ["--preset", "tiny", "--batch-size", "64", "--learning-rate", "1e-3"],
    # quality.py's translator size (3+3 layers, d256, 8 heads, d_ff 1024) at its batch, 2 epochs: the `mini` preset
    # and the command's defaults since this comparison
    "wide": ["--num-layers", "3", "--model-dim", "256", "--num-heads", "8", "--hidden-dim", "1024",
             "--batch-size", "128", "--learning-rate", "2e-3"],
    # the defaults at twice the peak learning rate
    "lr2e-3": ["--preset", "tiny", "--batch-size", "64", "--learning-rate", "2e-3"],
    # the "small" preset (4+4 layers, d256, 4 heads, d_ff 1024) at the same batch and peak
    "small": ["--preset", "small", "--batch-size", "128", "--learning-rate", "2e-3"],
}


def write_split(data_dir, folder):
    """quality.py's Tatoeba split; writes train.{spa,eng} and valid.{spa,eng}; the test pairs are dropped."""
    from kerasformers import text

    pairs = text.read_pairs(data_dir / "anki-spa-eng" / "spa.txt", source_column=1, target_column=0)
    train, _test = text.split(pairs, 1000 / len(pairs), seed=0)
    train, val = text.split(train, 500 / len(train), seed=1)
    for name, part in (("train", train), ("valid", val)):
        for ext, lines in (("spa", part.sources), ("eng", part.targets)):
            (folder / f"{name}.{ext}").write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return len(train), len(val)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=pathlib.Path, default=DEFAULT_DATA)
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--quick", action="store_true", help="smoke run: 2,000 training pairs, 1 epoch (not a result)")
    args = parser.parse_args(argv)
    if not (args.data_dir / "anki-spa-eng" / "spa.txt").is_file():
        sys.exit(f"No Tatoeba pairs under {args.data_dir}: pass --data-dir (the shared corpora folder).")
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        folder = pathlib.Path(tmp)
        n_train, n_val = write_split(args.data_dir, folder)
        print(f"{n_train:,} training pairs, {n_val} validation pairs (the 1,000 test pairs are not used)", flush=True)
        files = ["--source-file", folder / "train.spa", "--target-file", folder / "train.eng",
                 "--validation-source-file", folder / "valid.spa", "--validation-target-file", folder / "valid.eng",
                 "--test-source-file", folder / "valid.spa", "--test-target-file", folder / "valid.eng"]
        for name in args.candidates:
            output = folder / f"run_{name}"
            command = [sys.executable, "-m", "kerasformers", "train", "translation", *map(str, files),
                       "--epochs", str(args.epochs), "--output", str(output), "--no-export", "--no-plots",
                       *CANDIDATES[name], *(["--max-pairs", "2000", "--epochs", "1"] if args.quick else [])]
            print(f"\n=== {name}: {' '.join(CANDIDATES[name]) or '(defaults)'}", flush=True)
            started = time.perf_counter()
            subprocess.run(command, check=True, cwd=ROOT)
            seconds = time.perf_counter() - started
            info = json.loads((output / "task.json").read_text(encoding="utf-8"))
            metrics = info["metrics"]
            rows.append((name, seconds, info.get("max_length"), metrics))
            print(f"=== {name}: {seconds:.0f} s, validation BLEU {metrics['bleu']:.2f}, "
                  f"best val_loss {metrics.get('val_loss', float('nan')):.4f}", flush=True)
    print("\ncandidate | flags | wall s | validation BLEU | exact match | best val_loss | best val_accuracy")
    for name, seconds, _, m in rows:
        print(f"{name} | {' '.join(CANDIDATES[name]) or '(defaults)'} | {seconds:.0f} | {m['bleu']:.2f} | "
              f"{m['exact_match']:.3f} | {m.get('val_loss', float('nan')):.4f} | "
              f"{m.get('val_accuracy', float('nan')):.4f}")


if __name__ == "__main__":
    main()

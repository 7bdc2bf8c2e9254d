"""The translation demo's settings: candidates chosen on selection seeds, then confirmed on five other seeds.

`kerasformers train translation --demo` generates its date pairs from `--seed`, so each seed is
new data: new training pairs and new held-out pairs. Candidates are compared on the selection
seeds (10 and 11 by default): their held-out pairs play the part of a validation split, and no
reported figure comes from them. The chosen setting is then run beside the old demo on the
confirmation seeds (0-4) and reported as a median with min-max.

Each run is the command as a user types it, with `--no-export` and a fresh `--output` folder.
"done in" is what the command prints at its end (tokenizers, training, validation, the
held-out translations and plots; without Python's start-up); "wall" is the whole command.

    python benchmarks/demo_settings.py --stage select                 # every candidate on seeds 10, 11
    python benchmarks/demo_settings.py --stage confirm --candidates old 1layer-b32-lr2e-3-e4 d64-b32-lr2e-3-e4-drop0
    python benchmarks/demo_settings.py --quick                        # smoke run, under a minute (not a result)
"""

import argparse
import json
import pathlib
import re
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]


def flags(layers, batch, epochs, peak, pairs=8000, *extra):
    """A candidate's flags. Each spells out its preset and layer count, so that it runs the same model after the
    --demo defaults change: with `--preset` given, the preset keeps its own widths and dropout (0.1), and `extra`
    changes them (the defaults since the sixth round: `d64-b32-lr2e-3-e4-drop0`)."""
    return ["--preset", "tiny", "--num-layers", str(layers), "--demo-size", str(pairs), *extra,
            "--batch-size", str(batch), "--epochs", str(epochs), "--learning-rate", peak]


CANDIDATES = {
    "old": flags(2, 64, 6, "1e-3", 4000),  # the demo before issue #15: 4,000 pairs, batches of 64, 6 epochs
    "b32-lr1e-3-e4": flags(2, 32, 4, "1e-3"),  # the demo's defaults before this comparison
    "b32-lr2e-3-e2": flags(2, 32, 2, "2e-3"),
    "b64-lr2e-3-e3": flags(2, 64, 3, "2e-3"),
    "b64-lr3e-3-e3": flags(2, 64, 3, "3e-3"),
    # one encoder and one decoder layer: about half the step time of tiny's two
    "1layer-b64-lr2e-3-e4": flags(1, 64, 4, "2e-3"),
    "1layer-b64-lr3e-3-e4": flags(1, 64, 4, "3e-3"),
    "1layer-b32-lr2e-3-e3": flags(1, 32, 3, "2e-3"),
    # added after the first selection round (seeds 10, 11), around its best row
    "1layer-b32-lr2e-3-e4": flags(1, 32, 4, "2e-3"),
    "1layer-b32-lr3e-3-e4": flags(1, 32, 4, "3e-3"),
    "1layer-b16-lr1e-3-e3": flags(1, 16, 3, "1e-3"),
    # added after the second round, one epoch more than its best row
    "1layer-b32-lr2e-3-e5": flags(1, 32, 5, "2e-3"),
    "1layer-b32-lr1e-3-e5": flags(1, 32, 5, "1e-3"),
    # added after the third round: two layers with a narrower feed-forward part (d_ff 256 instead of 512)
    "ff256-b32-lr2e-3-e3": flags(2, 32, 3, "2e-3", 8000, "--hidden-dim", "256"),
    # the fifth and sixth rounds: no dropout (the generated pairs are noiseless and never repeat a test pair), and a
    # narrower model (d 64, d_ff 256) with two layers each side
    "1layer-b32-lr2e-3-e4-drop0": flags(1, 32, 4, "2e-3", 8000, "--dropout", "0"),
    "1layer-b32-lr2e-3-e5-drop0": flags(1, 32, 5, "2e-3", 8000, "--dropout", "0"),
    "1layer-b32-lr3e-3-e4-drop0": flags(1, 32, 4, "3e-3", 8000, "--dropout", "0"),
    "d64-b32-lr2e-3-e4": flags(2, 32, 4, "2e-3", 8000, "--model-dim", "64", "--hidden-dim", "256"),
    "d64-b32-lr2e-3-e4-drop0": flags(2, 32, 4, "2e-3", 8000, "--model-dim", "64", "--hidden-dim", "256",
                                     "--dropout", "0"),
    "d64-b32-lr2e-3-e3-drop0": flags(2, 32, 3, "2e-3", 8000, "--model-dim", "64", "--hidden-dim", "256",
                                     "--dropout", "0"),
    "d64-1layer-b32-lr2e-3-e5-drop0": flags(1, 32, 5, "2e-3", 8000, "--model-dim", "64", "--hidden-dim", "256",
                                            "--dropout", "0"),
}
STAGE_SEEDS = {"select": [10, 11], "confirm": [0, 1, 2, 3, 4]}


def run_once(name, seed, folder, quick=False):
    output = folder / f"{name}_seed{seed}"
    command = [sys.executable, "-m", "kerasformers", "train", "translation", "--demo", "--seed", str(seed),
               "--no-export", "--output", str(output), *CANDIDATES[name],
               *(["--epochs", "1", "--steps-per-epoch", "5", "--eval-size", "32"] if quick else [])]
    started = time.perf_counter()
    result = subprocess.run(command, check=True, cwd=ROOT, capture_output=True, text=True)
    wall = time.perf_counter() - started
    done = re.search(r"=== translation: done in (\d+) s ===", result.stdout)
    metrics = json.loads((output / "task.json").read_text(encoding="utf-8"))["metrics"]
    return dict(candidate=name, seed=seed, done_in=int(done.group(1)) if done else float("nan"), wall=wall,
                exact_match=metrics["exact_match"], bleu=metrics["bleu"], val_loss=metrics.get("val_loss"))


def summary(values):
    return f"{statistics.median(values):.4g} ({min(values):.4g}-{max(values):.4g})"


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stage", choices=list(STAGE_SEEDS), default="select")
    parser.add_argument("--candidates", nargs="+", choices=list(CANDIDATES), default=list(CANDIDATES))
    parser.add_argument("--seeds", nargs="+", type=int, help="instead of the stage's seeds")
    parser.add_argument("--quick", action="store_true", help="smoke run: 5 steps, 32 test pairs (not a result)")
    args = parser.parse_args(argv)
    seeds = args.seeds or STAGE_SEEDS[args.stage]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for seed in seeds:  # candidates alternate within a seed, so a slow spell of the machine hits all of them
            for name in args.candidates:
                row = run_once(name, seed, pathlib.Path(tmp), args.quick)
                rows.append(row)
                print(f"{name} seed {seed}: done in {row['done_in']} s (wall {row['wall']:.0f} s), exact match "
                      f"{row['exact_match']:.4f}, BLEU {row['bleu']:.2f}, best val_loss {row['val_loss']:.4f}",
                      flush=True)
    print(f"\n{args.stage} stage, seeds {seeds}: median (min-max)")
    print("candidate | flags | done in (s) | wall (s) | exact match")
    for name in args.candidates:
        mine = [r for r in rows if r["candidate"] == name]
        print(f"{name} | {' '.join(CANDIDATES[name])} | {summary([r['done_in'] for r in mine])} | "
              f"{summary([r['wall'] for r in mine])} | {summary([r['exact_match'] for r in mine])}")


if __name__ == "__main__":
    main()

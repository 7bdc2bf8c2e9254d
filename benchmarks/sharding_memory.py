"""Memory per device under data and model parallelism, from the sharded parameter counts of `get_layout_map`.

Builds each model (in bfloat16 to halve the host memory; the counts do not
depend on it), looks every variable up in `get_layout_map` and counts the
elements one device holds when the model axis has 1, 2, 4 or 8 devices. Then,
per device, in mixed precision with Adam:

- weights: 4 bytes per parameter (float32 master weights; Keras keeps the
  variables in float32 under `mixed_bfloat16`);
- gradients: 4 bytes per parameter;
- Adam's two moments: 8 bytes per parameter;
- activations kept for the backward pass (bfloat16, no recomputation),
  per layer and per token, after Korthikanti et al. 2022 ("Reducing
  Activation Recomputation in Large Transformer Models", eq. 2 with tensor
  parallelism t, without sequence parallelism):
  `d * (10 + 24 / t) + 5 * heads * s / t` bytes, where `s` is the sequence
  length; times the layers (an encoder-decoder's decoder layers count 1.5:
  cross-attention) and the tokens per device.

    python benchmarks/sharding_memory.py                # transformer_big and a 1.1B decoder
    python benchmarks/sharding_memory.py --models tiny  # the tiny preset (seconds; what the test checks)
"""

import argparse
import os

os.environ.setdefault("KERAS_BACKEND", "jax")

import kerasformers as kf  # first: it imports TensorFlow without the start-up noise

import keras
import numpy as np

MODELS = {
    # the paper's big model (Vaswani et al. 2017, Table 3) with a shared 32k vocabulary, 256 positions
    "transformer_big": lambda: kf.TransformerSeq2Seq.from_preset(
        "transformer_big", encoder_vocabulary_size=32_000, share_embeddings=True, max_length=256,
        dtype="bfloat16"),
    # a 1.1B decoder: 20 layers, d=2048, 16 heads, d_ff=8192, 32k vocabulary, 2048 positions
    "decoder_1b": lambda: kf.TransformerLanguageModel(
        vocabulary_size=32_000, max_length=2048, num_layers=20, model_dim=2048, num_heads=16, hidden_dim=8192,
        dtype="bfloat16"),
    "tiny": lambda: kf.TransformerLanguageModel.from_preset("tiny", vocabulary_size=64, max_length=16),
}
SEQUENCE = {"transformer_big": 256, "decoder_1b": 2048, "tiny": 16}
GIB = 2 ** 30


def sharded_counts(model, model_axis_size):
    """(total parameters, parameters one device holds) with the model axis split over `model_axis_size` devices."""
    mesh = keras.distribution.DeviceMesh((1, 1), ["batch", "model"], keras.distribution.list_devices()[:1])
    layout_map = model.get_layout_map(mesh)
    total = per_device = 0
    for variable in model.weights:
        count = int(np.prod(variable.shape))
        layout = layout_map[variable.path]
        split = 1
        if layout is not None:
            for axis, size in zip(layout.axes, variable.shape):
                if axis == "model":
                    if size % model_axis_size:
                        raise ValueError(f"{variable.path} {tuple(variable.shape)} does not split over "
                                         f"{model_axis_size} devices")
                    split *= model_axis_size
        total += count
        per_device += count // split
    return total, per_device


def activation_bytes(model, tokens_per_device, sequence, t):
    d, heads = model.model_dim, model.num_heads
    if isinstance(model, kf.TransformerSeq2Seq):
        layers = model.num_encoder_layers + 1.5 * model.num_decoder_layers
    else:
        layers = model.num_layers
    return layers * tokens_per_device * (d * (10 + 24 / t) + 5 * heads * sequence / t)


def report(name, tokens_per_device=8192):
    model = MODELS[name]()
    sequence = SEQUENCE[name]
    print(f"### {name}: {model.count_params():,} parameters; {tokens_per_device:,} tokens per device, "
          f"sequence {sequence}\n")
    print("| model axis t | parameters per device | weights + gradients + Adam (GiB) | activations (GiB) | total (GiB) |")
    print("|---|---|---|---|---|")
    rows = {}
    for t in (1, 2, 4, 8):
        try:
            total, per_device = sharded_counts(model, t)
        except ValueError as error:  # e.g. 4 heads over 8 devices
            print(f"| {t} | does not split: {error} | | | |")
            continue
        state = 16 * per_device / GIB
        acts = activation_bytes(model, tokens_per_device, sequence, t) / GIB
        rows[t] = (total, per_device)
        print(f"| {t} | {per_device:,} ({per_device / total:.1%}) | {state:.2f} | {acts:.2f} | {state + acts:.2f} |")
    print()
    return rows


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--models", nargs="+", choices=list(MODELS), default=["transformer_big", "decoder_1b"])
    parser.add_argument("--tokens-per-device", type=int, default=8192)
    args = parser.parse_args(argv)
    return {name: report(name, args.tokens_per_device) for name in args.models}


if __name__ == "__main__":
    main()

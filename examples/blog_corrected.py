"""The seed blog post's two Transformer snippets, written with APIs that exist.

1. A `Sequential` classifier: token + position embedding -> encoder layer ->
   decoder layer (causal, no cross-attention) -> pooling -> Dense -> softmax,
   compiled and fitted with `model.fit`.
2. The "multi-head attention" snippet: a functional model that returns the
   attention weights the blog asked for with `return_attention=True`.

Trains on generated data (no download): each sequence's class is written in its
first token, so the model must learn to use position information.

    python examples/blog_corrected.py --epochs 3
"""

import argparse

import kerasformers as kf  # first: it starts TensorFlow quietly (kerasformers.startup), before Keras does

import keras  # noqa: E402
import numpy as np  # noqa: E402


def make_data(num_examples, vocab_size, max_length, num_classes, seed):
    rng = np.random.default_rng(seed)
    x = rng.integers(1, vocab_size, size=(num_examples, max_length))
    return x, x[:, 0] % num_classes


def build_classifier(vocab_size, max_length, num_classes):
    """Snippet 1: the blog's Sequential classifier."""
    return keras.Sequential(
        [
            keras.Input(shape=(max_length,), dtype="int32"),
            kf.layers.TokenAndPositionEmbedding(vocab_size, max_length, embedding_dim=64),
            kf.layers.TransformerEncoderLayer(num_heads=8, key_dim=64, hidden_dim=256, use_bias=True),
            # Without an encoder to attend to, the decoder layer is a causal (GPT-style) block.
            kf.layers.TransformerDecoderLayer(num_heads=8, key_dim=64, hidden_dim=256, use_bias=True),
            keras.layers.GlobalAveragePooling1D(),  # (batch, length, 64) -> (batch, 64) for the Dense head
            keras.layers.Dense(512, activation="relu"),
            keras.layers.Dense(num_classes, activation="softmax"),
        ],
        name="blog_classifier",
    )


def build_attention_model(vocab_size, max_length, num_classes):
    """Snippet 2: encoder + causal decoder block + attention, returning attention weights."""
    inputs = keras.Input(shape=(None,), dtype="int32", name="tokens")
    x = kf.layers.TokenAndPositionEmbedding(vocab_size, max_length, embedding_dim=64)(inputs)
    x, encoder_attention = kf.layers.TransformerEncoderLayer(
        num_heads=8, key_dim=64, hidden_dim=256, return_attention=True, use_bias=True
    )(x)
    x = kf.layers.TransformerDecoderLayer(num_heads=8, key_dim=64, hidden_dim=256)(x)
    x, attention = kf.layers.MultiHeadAttention(num_heads=4, key_dim=64)(x, return_attention_scores=True)
    outputs = keras.layers.Dense(num_classes, activation="softmax", name="label")(
        keras.layers.GlobalAveragePooling1D()(x)
    )
    classifier = keras.Model(inputs, outputs, name="attention_classifier")
    inspector = keras.Model(inputs, {"encoder_attention": encoder_attention, "attention": attention})
    return classifier, inspector  # the two share every layer


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--examples", type=int, default=4096)
    parser.add_argument("--max-length", type=int, default=16)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args(argv)
    keras.utils.set_random_seed(args.seed)
    vocab_size, num_classes = 200, 10
    x, y = make_data(args.examples, vocab_size, args.max_length, num_classes, args.seed)
    x_test, y_test = make_data(512, vocab_size, args.max_length, num_classes, args.seed + 1)

    model = build_classifier(vocab_size, args.max_length, num_classes)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    model.summary()
    model.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, validation_data=(x_test, y_test))
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(f"snippet 1: test accuracy {accuracy:.3f} (chance is {1 / num_classes:.3f})")

    classifier, inspector = build_attention_model(vocab_size, args.max_length, num_classes)
    classifier.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    classifier.fit(x, y, epochs=args.epochs, batch_size=args.batch_size, verbose=2)
    out = inspector.predict(x_test[:1], verbose=0)
    print("snippet 2: encoder attention of the first example, head 0 (rows sum to 1):")
    print(np.array2string(out["encoder_attention"][0, 0, :5, :5], precision=2))
    return accuracy


if __name__ == "__main__":
    main()

"""Transformer building blocks, written in `keras.ops` (any Keras backend)."""

from kerasformers.layers.attention import MultiHeadAttention
from kerasformers.layers.decoder import TransformerDecoderLayer
from kerasformers.layers.encoder import TransformerEncoderLayer
from kerasformers.layers.feed_forward import FeedForward

try:  # written in parallel; present once their files land
    from kerasformers.layers.positional_encoding import (
        LearnedPositionalEmbedding,
        RotaryEmbedding,
        SinusoidalPositionalEncoding,
    )
    from kerasformers.layers.token_embedding import TokenAndPositionEmbedding
except ImportError:  # pragma: no cover
    pass

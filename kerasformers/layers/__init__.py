"""Transformer building blocks, written in `keras.ops` (any Keras backend)."""

from kerasformers.layers.activations import gelu_approximate
from kerasformers.layers.attention import MultiHeadAttention
from kerasformers.layers.convolution import LocalConvolution
from kerasformers.layers.decoder import TransformerDecoderLayer
from kerasformers.layers.encoder import TransformerEncoderLayer
from kerasformers.layers.feed_forward import FeedForward

from kerasformers.layers.patch_embedding import PatchEmbedding
from kerasformers.layers.pooling import MaskedMaxPooling, MaskedMeanPooling
from kerasformers.layers.positional_encoding import (
    LearnedPositionalEmbedding,
    RotaryEmbedding,
    SinusoidalPositionalEncoding,
)
from kerasformers.layers.token_embedding import TokenAndPositionEmbedding

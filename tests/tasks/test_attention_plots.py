import keras
import numpy as np

import kerasformers as kf


def head_average(model, source, decoder):
    """What the attention heatmap draws: the last decoder layer's cross-attention, averaged over heads."""
    return np.asarray(model.cross_attention(source, decoder))[0].mean(axis=0)


def test_cross_attention_of_the_last_decoder_layer():
    keras.utils.set_random_seed(0)
    model = kf.TransformerSeq2Seq.from_preset("tiny", encoder_vocabulary_size=20, decoder_vocabulary_size=12,
                                              max_length=8, num_encoder_layers=1, num_decoder_layers=2,
                                              model_dim=16, num_heads=2, hidden_dim=32, dropout=0.0)
    before = [w.copy() for w in model.get_weights()]
    source = np.array([[5, 6, 7, 8, 9]])
    decoder = np.array([[2, 4, 5]])
    weights = head_average(model, source, decoder)
    assert weights.shape == (3, 5)  # (target, source), averaged over heads
    np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=1e-5)
    # Padding in the source gets no attention.
    padded = head_average(model, np.array([[5, 6, 7, 0, 0]]), decoder)
    np.testing.assert_allclose(padded[:, 3:], 0.0, atol=1e-7)
    # Reading the attention changes nothing in the model.
    assert all(np.array_equal(a, b) for a, b in zip(before, model.get_weights()))
    assert not model.decoder_layers[-1].return_attention

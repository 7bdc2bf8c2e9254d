import helpers
import numpy as np
import pytest

from kerasformers.layers import PatchEmbedding

IMAGES = np.random.default_rng(0).random((3, 8, 8, 2)).astype("float32")


def factory():
    return PatchEmbedding(patch_size=4, embedding_dim=6)


def test_patches_are_linear_projections_of_flattened_patches():
    layer = PatchEmbedding(patch_size=4, embedding_dim=6, class_token=False)
    out = helpers.to_numpy(layer(IMAGES))
    kernel, bias = [np.asarray(w, np.float64) for w in layer.projection.get_weights()]
    patches = IMAGES.reshape(3, 2, 4, 2, 4, 2).transpose(0, 1, 3, 2, 4, 5).reshape(3, 4, 4 * 4 * 2)
    expected = patches @ kernel.reshape(-1, 6) + bias
    np.testing.assert_allclose(out, expected, atol=1e-5)


def test_class_token_comes_first():
    layer = factory()
    out = helpers.to_numpy(layer(IMAGES))
    assert out.shape == (3, 5, 6)
    np.testing.assert_allclose(out[:, 0], np.broadcast_to(helpers.to_numpy(layer.class_embedding)[0], (3, 6)))


def test_generic_checks(tmp_path):
    helpers.check_config_round_trip(factory)
    helpers.check_keras_round_trip(factory, IMAGES, tmp_path)
    helpers.check_fit_step(factory, IMAGES)
    helpers.check_fit_step(factory, IMAGES, jit_compile=True)
    helpers.check_mixed_bfloat16(factory, IMAGES)
    assert factory().compute_output_shape((None, 8, 8, 2)) == (None, 5, 6)


def test_bad_input():
    with pytest.raises(ValueError, match="patch_size=0"):
        PatchEmbedding(patch_size=0, embedding_dim=4)
    with pytest.raises(ValueError, match=r"divisible by patch_size=3.*\(3, 8, 8, 2\)"):
        PatchEmbedding(patch_size=3, embedding_dim=4)(IMAGES)
    with pytest.raises(ValueError, match="rank 4"):
        PatchEmbedding(patch_size=4, embedding_dim=4)(IMAGES[0])

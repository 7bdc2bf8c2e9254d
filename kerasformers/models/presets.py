"""Named model sizes: the paper's base/big and CPU-sized presets.

`from_preset(name, **overrides)` on every task model looks its name up here.
"""

import functools

import keras

from kerasformers.models.sharding import get_layout_map
from kerasformers.training.precision import dtype_policy

# Vaswani et al. 2017, Table 3: base (N=6, d_model=512, d_ff=2048, h=8,
# P_drop=0.1) and big (d_model=1024, d_ff=4096, h=16, P_drop=0.3).
TEXT_PRESETS = {
    "transformer_base": dict(num_layers=6, model_dim=512, hidden_dim=2048, num_heads=8, dropout=0.1),
    "transformer_big": dict(num_layers=6, model_dim=1024, hidden_dim=4096, num_heads=16, dropout=0.3),
    # CPU-sized: trains in minutes on two cores.
    "small": dict(num_layers=4, model_dim=256, hidden_dim=1024, num_heads=4, dropout=0.1),
    # the translation command's default on real corpora (chosen on Tatoeba validation pairs, docs/benchmarks.md)
    "mini": dict(num_layers=3, model_dim=256, hidden_dim=1024, num_heads=8, dropout=0.1),
    "tiny": dict(num_layers=2, model_dim=128, hidden_dim=512, num_heads=4, dropout=0.1),
}

# Dosovitskiy et al. 2021, Table 1 (ViT-Base), and CPU-sized presets.
VISION_PRESETS = {
    "vit_base": dict(num_layers=12, model_dim=768, hidden_dim=3072, num_heads=12, dropout=0.1),
    "small": dict(num_layers=6, model_dim=192, hidden_dim=768, num_heads=3, dropout=0.1),
    "tiny": dict(num_layers=4, model_dim=64, hidden_dim=128, num_heads=4, dropout=0.1),
}


def seq2seq_presets():
    """Text presets with `num_layers` split into encoder and decoder depths."""
    presets = {}
    for name, preset in TEXT_PRESETS.items():
        preset = dict(preset)
        layers = preset.pop("num_layers")
        presets[name] = {**preset, "num_encoder_layers": layers, "num_decoder_layers": layers}
    return presets


class PresetMixin:
    """Adds `from_preset(name, **overrides)` to a model class with a `presets` dict."""

    presets = {}

    @classmethod
    def from_preset(cls, name, **overrides):
        """Builds the model with a named size; keyword arguments override it.

        Raises:
            ValueError: for an unknown name, listing the known ones.
        """
        if name not in cls.presets:
            raise ValueError(
                f"Unknown preset {name!r} for {cls.__name__}. Known presets: {', '.join(sorted(cls.presets))}"
            )
        return cls(**{**cls.presets[name], **overrides})


def _builds_under_its_dtype(init):
    """Wraps a task model's `__init__` so that every layer it creates takes the model's `dtype`.

    `Model(dtype=...)` alone sets only the model's own policy; the layers of a
    functional graph take the global policy when they are created. Building
    them under the model's policy (the `dtype` argument, else the global
    policy at construction) makes `dtype="mixed_bfloat16"` work, and lets a
    saved model rebuild in the policy it was trained in.
    """

    @functools.wraps(init)
    def __init__(self, *args, dtype=None, **kwargs):
        policy = keras.dtype_policies.get(dtype) if dtype is not None else keras.config.dtype_policy()
        with dtype_policy(policy):
            init(self, *args, dtype=policy, **kwargs)

    return __init__


class TaskModel(PresetMixin):
    """Config plumbing of the functional task models: `from_config` is `cls(**config)`.

    Subclasses' `__init__` build their layers under the model's `dtype` policy
    (`_builds_under_its_dtype`), and `get_config` records it.
    """

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__ = _builds_under_its_dtype(cls.__dict__["__init__"])

    def _set_config(self, **config):
        """Stores every constructor argument, as an attribute and for `get_config`."""
        self._constructor_config = dict(config)
        for key, value in config.items():
            setattr(self, key, value)

    def get_config(self):
        return {"name": self.name, "trainable": self.trainable, "dtype": keras.dtype_policies.serialize(self.dtype_policy),
                **self._constructor_config}

    @classmethod
    def from_config(cls, config):
        return cls(**config)

    get_layout_map = staticmethod(get_layout_map)

"""kerasformers: Transformer networks for Keras 3.

Layers live in `kerasformers.layers` and are re-exported here.
"""

__version__ = "0.1.0"

from kerasformers import startup  # noqa: E402

startup.import_tensorflow_quietly()  # before Keras imports it: no C++ start-up noise (see kerasformers.startup)

from kerasformers import layers  # noqa: E402
from kerasformers.layers import *  # noqa: E402,F401,F403
from kerasformers import models  # noqa: E402
from kerasformers.models import (  # noqa: E402,F401
    TransformerClassifier,
    TransformerLanguageModel,
    TransformerSeq2Seq,
    VisionTransformer,
)
from kerasformers import training  # noqa: E402,F401
from kerasformers import text  # noqa: E402,F401

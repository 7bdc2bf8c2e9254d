"""Task models: functional `keras.Model` subclasses with presets."""

from kerasformers.models.classifier import TransformerClassifier
from kerasformers.models.language_model import TransformerLanguageModel
from kerasformers.models.presets import TEXT_PRESETS, VISION_PRESETS
from kerasformers.models.seq2seq import TransformerSeq2Seq
from kerasformers.models.vit import VisionTransformer
from kerasformers.models.lora import enable_lora, lora_projections, merge_lora
from kerasformers.models.pretrained import checkpoint_facts
from kerasformers.models.sharding import get_layout_map

"""SavedModels for TF Serving: raw strings in, answers out.

`export_for_serving(model, "saved_models/<name>", endpoints)` writes TF
Serving's layout `saved_models/<name>/<version>/` with the tokenizer inside the
graph, so clients send text and no Python runs on the serving side. The
endpoints say what the export answers; one builder per kind of model:

>>> export_for_serving(model, "saved_models/sentiment",
...                    classifier_endpoints(model, tokenizer, ["negative", "positive"]))  # doctest: +SKIP
>>> export_for_serving(lm, "saved_models/language_model",
...                    language_model_endpoints(lm, tokenizer, max_new_tokens=64),
...                    jit_compile=True)  # XLA: TF Serving with --xla_cpu_compilation_enabled=true  # doctest: +SKIP
>>> export_for_serving(translator, "saved_models/translator",
...                    translator_endpoints(translator, spa, eng, num_beams=4))  # doctest: +SKIP
"""

from kerasformers.export.generative import (
    DEFAULT_BATCH_BUCKETS,
    OPTIONS_HELP,
    language_model_endpoints,
    translator_endpoints,
)
from kerasformers.export.serving import (
    SERVING_LIMITS,
    Endpoints,
    classifier_endpoints,
    custom_ops,
    export_for_serving,
    load_for_serving,
    load_signature,
    next_version,
)
from kerasformers.export.signature_files import read_warmup_requests, signature_defaults
from kerasformers.export.tf_serving import TF_SERVING_IMAGE, TF_SERVING_NIGHTLY_IMAGE, TF_SERVING_TEXT_OPS

__all__ = [
    "DEFAULT_BATCH_BUCKETS",
    "OPTIONS_HELP",
    "SERVING_LIMITS",
    "TF_SERVING_IMAGE",
    "TF_SERVING_NIGHTLY_IMAGE",
    "TF_SERVING_TEXT_OPS",
    "Endpoints",
    "classifier_endpoints",
    "custom_ops",
    "export_for_serving",
    "language_model_endpoints",
    "load_for_serving",
    "load_signature",
    "next_version",
    "read_warmup_requests",
    "signature_defaults",
    "translator_endpoints",
]

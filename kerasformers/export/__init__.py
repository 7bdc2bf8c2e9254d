"""SavedModels for TF Serving: raw strings in, answers out.

`export_for_serving(model, "saved_models/<name>", tokenizer=...)` writes TF
Serving's layout `saved_models/<name>/<version>/` with the tokenizer inside the
graph, so clients send text and no Python runs on the serving side.
"""

from kerasformers.export.serving import (
    SERVING_LIMITS,
    custom_ops,
    export_for_serving,
    load_for_serving,
    next_version,
)

__all__ = ["SERVING_LIMITS", "custom_ops", "export_for_serving", "load_for_serving", "next_version"]

"""The TF Serving release our exports are checked against: its Docker image and the TensorFlow Text ops it links in.

One place for what is known (and how) about the model server that can load a
kerasformers export; `custom_ops(path, check=True)` and the README use it.

Release. Exports are written with TensorFlow 2.21, and a SavedModel needs a
model server whose TensorFlow is at least the one that wrote it. TF Serving
2.21.0 is the first release built with TensorFlow 2.21 (TF Serving releases
are "TensorFlow Serving using TensorFlow <same version>"; the 2.21.0 release
exists: `tensorflow-serving-api==2.21.0` on PyPI, and the 2.22.0-rc0 release
notes list "Update release notes for TensorFlow Serving 2.21.0", commit
66aa059). Its CPU image is `tensorflow/serving:2.21.0` (Docker Hub tags follow
the release numbers, e.g. `2.11.0-gpu` in tensorflow/serving#2064). Not
verified here (no network): that tag on Docker Hub itself; if it is missing,
`tensorflow/serving:nightly` is built from master with a newer TensorFlow.

TF Text ops. The model server links `@org_tensorflow_text//tensorflow_text:ops_lib`
(tensorflow/serving, tensorflow_serving/model_servers/BUILD,
`SUPPORTED_TENSORFLOW_OPS`), pinned in tensorflow_serving/workspace.bzl
(`org_tensorflow_text`, `strip_prefix = "text-2.20.0"`: TF Text v2.20.0 on
the master revision read, which already pins abseil 20260526.0, i.e. is later
than the 2.21 branch; the 2.22.0-rc0 notes are the first to update TF Text,
to 2.22.0rc0). `ops_lib` (tensorflow/text, tensorflow_text/BUILD) depends on
24 op libraries; the ops below are the `REGISTER_OP` names of their op
definitions (tensorflow_text/core/ops/*.cc). Cross-checked: the 38 ops the
`tensorflow-text` 2.21.1 wheel registers are exactly this set without the two
`TFSentencepiece*Op` ops of `sentencepiece_mobile_ops.cc`, which the wheel does
not build.
"""

TF_SERVING_RELEASE = "2.21.0"
TF_SERVING_IMAGE = f"tensorflow/serving:{TF_SERVING_RELEASE}"
TF_SERVING_NIGHTLY_IMAGE = "tensorflow/serving:nightly"
TF_SERVING_TEXT_VERSION = "2.20.0"  # the TensorFlow Text that TF_SERVING_IMAGE links in (see above)

# The TensorFlow Text ops TF Serving 2.21.0's model server can run (TF Text v2.20.0 `ops_lib`); any other
# non-core op in an export makes TF Serving refuse to load it ("Op type not registered").
TF_SERVING_TEXT_OPS = frozenset({
    # normalize_ops.cc
    "CaseFoldUTF8", "NormalizeUTF8", "NormalizeUTF8WithOffsetsMap", "FindSourceOffsets",
    # regex_split_ops.cc
    "RegexSplitWithOffsets",
    # wordpiece_op.cc, fast_wordpiece_tokenizer_op.cc
    "WordpieceTokenizeWithOffsets", "FastWordpieceTokenizeWithOffsets", "TFText>FastWordpieceDetokenize",
    # sentencepiece_ops.cc
    "SentencepieceOp", "SentencepieceTokenizeOp", "SentencepieceTokenizeWithOffsetsOp",
    "SentencepieceDetokenizeOp", "SentencepieceVocabSizeOp", "SentencepieceIdToStringOp",
    "SentencepieceStringToIdOp",
    # fast_sentencepiece_ops.cc, sentencepiece_mobile_ops.cc
    "TFText>FastSentencepieceTokenize", "TFText>FastSentencepieceDetokenize",
    "TFSentencepieceTokenizeOp", "TFSentencepieceDetokenizeOp",
    # fast_bert_normalizer_op.cc, phrase_tokenizer_op.cc
    "FastBertNormalize", "PhraseTokenize", "TFText>PhraseDetokenize",
    # whitespace_tokenize_op.cc, whitespace_tokenizer_op.cc, unicode_script_tokenize_op.cc
    "WhitespaceTokenizeWithOffsets", "TFText>WhitespaceTokenizeWithOffsetsV2", "UnicodeScriptTokenizeWithOffsets",
    # split_merge_tokenize_op.cc, tokenizer_from_logits_op.cc, byte_splitter_op.cc
    "SplitMergeTokenizeWithOffsets", "TokenizerFromLogits", "TFText>ByteSplitWithOffsets",
    "TFText>ByteSplitByOffsets",
    # sentence_breaking_ops.cc, sentence_fragmenter_v2_op.cc
    "SentenceFragments", "SentenceFragmentsV2",
    # constrained_sequence_op.cc, mst_ops.cc, ngrams_op.cc, rouge_l_op.cc
    "ConstrainedSequence", "MaxSpanningTree", "TFText>NgramsStringJoin", "RougeL",
    # trimmer_ops.cc, utf8_binarize_op.cc, boise_offset_converter_op.cc
    "TFText>RoundRobinGenerateMasks", "TFText>RoundRobinTrim", "TFText>Utf8Binarize",
    "TFText>OffsetsToBoiseTags", "TFText>BoiseTagsToOffsets",
})

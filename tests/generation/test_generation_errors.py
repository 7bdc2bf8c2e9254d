"""Every bad argument raises a ValueError that names the received value."""

import numpy as np
import pytest
from _generation_setup import PROMPTS, SOURCES

from kerasformers.generation import generate, translate

LM_CASES = [
    (dict(prompt_ids=np.zeros((0, 3), "int32")), r"empty.*\(0, 3\)"),
    (dict(prompt_ids=np.zeros((2, 0), "int32")), r"empty.*\(2, 0\)"),
    (dict(prompt_ids=np.array([[4, 5], [0, 0]])), r"row 1 contains only padding"),
    (dict(prompt_ids=np.array([4, 5])), r"2D"),
    (dict(prompt_ids=np.array([[4.0, 5.0]])), r"integer token ids.*float"),
    (dict(prompt_ids=np.array([[4, 99]])), r"outside \[0, vocabulary_size=32\).*max=99"),
    (dict(prompt_ids=np.ones((1, 17), "int32")), r"longer than the model's max_length=16.*length 17"),
    (dict(max_new_tokens=12), r"5 \+ 12 = 17 exceeds the model's max_length=16"),
    (dict(max_new_tokens=0), r"max_new_tokens=0"),
    (dict(max_new_tokens=-3), r"max_new_tokens=-3"),
    (dict(max_new_tokens=2.5), r"max_new_tokens=2.5"),
    (dict(sampler="nucleus"), r"Unknown sampler 'nucleus'"),
    (dict(sampler="top_p", top_p=0.0), r"top_p=0.0"),
    (dict(sampler="top_p", top_p=1.5), r"top_p=1.5"),
    (dict(num_beams=0), r"num_beams=0"),
    (dict(sampler="beam", num_beams=-1), r"num_beams=-1"),
    (dict(sampler="top_k", num_beams=2), r"num_beams.*sampler='top_k'"),
    (dict(sampler="top_k", top_k=0), r"top_k=0"),
    (dict(sampler="top_k", top_k=33), r"top_k=33"),
    (dict(top_k=3), r"top_k.*sampler='greedy'"),
    (dict(temperature=0.0), r"temperature=0.0"),
    (dict(num_beams=2, length_penalty=-0.5), r"length_penalty=-0.5"),
    (dict(sampler="top_k", seed=1.5), r"seed=1.5"),
    (dict(end_token_id=40), r"end_token_id=40"),
    (dict(end_token_id=0), r"differ from `pad_token_id`"),
]


@pytest.mark.parametrize("kwargs,match", LM_CASES, ids=[m for _, m in LM_CASES])
def test_generate_rejects_bad_arguments(lm, kwargs, match):
    kwargs = {"prompt_ids": PROMPTS, "max_new_tokens": 4, **kwargs}
    with pytest.raises(ValueError, match=match):
        generate(lm, **kwargs)


SEQ2SEQ_CASES = [
    (dict(source_ids=np.zeros((0, 3), "int32")), r"empty"),
    (dict(source_ids=np.array([[5, 6], [0, 0]])), r"row 1 contains only padding"),
    (dict(source_ids=np.ones((1, 13), "int32")), r"longer than the model's max_length=12.*length 13"),
    (dict(max_length=13), r"max_length=13"),
    (dict(max_length=0), r"max_length=0"),
    (dict(sampler="beam_search"), r"Unknown sampler 'beam_search'"),
    (dict(sampler="top_p", top_p=-0.1), r"top_p=-0.1"),
    (dict(num_beams=0), r"num_beams=0"),
    (dict(start_token_id=32), r"start_token_id=32"),
]


@pytest.mark.parametrize("kwargs,match", SEQ2SEQ_CASES, ids=[m for _, m in SEQ2SEQ_CASES])
def test_translate_rejects_bad_arguments(seq2seq, kwargs, match):
    kwargs = {"source_ids": SOURCES, **kwargs}
    with pytest.raises(ValueError, match=match):
        translate(seq2seq, **kwargs)


def test_wrong_model_type(lm, seq2seq):
    with pytest.raises(ValueError, match="needs a TransformerLanguageModel.*type TransformerSeq2Seq.*lacks `vocabulary_size`"):
        generate(seq2seq, PROMPTS, 2)
    with pytest.raises(ValueError, match="needs a TransformerSeq2Seq.*type TransformerLanguageModel.*lacks `encoder_vocabulary_size`"):
        translate(lm, SOURCES)


class Lookalike:
    """Has the attributes of a language model but no decoding step."""

    vocabulary_size, max_length = 32, 16


@pytest.mark.parametrize("function,args", [(generate, (PROMPTS, 2)), (translate, (SOURCES,))], ids=["generate", "translate"])
@pytest.mark.parametrize("model", [object(), None, "model", Lookalike()], ids=["object", "None", "str", "lookalike"])
def test_objects_without_the_step_are_refused_by_type(function, args, model):
    with pytest.raises(ValueError, match=rf"Received: model of type {type(model).__name__}, which lacks .*`call_with_cache`"):
        function(model, *args)

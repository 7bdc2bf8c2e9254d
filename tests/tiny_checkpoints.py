"""Tiny random Hugging Face-format checkpoints (config.json + safetensors + tokenizer files), written by the tests.

A few hundred KB each; the layouts are those of `transformers`' BertModel and
GPT2Model (torch `Linear` weights `(out, in)`, GPT-2 `Conv1D` weights `(in, out)`).
"""

import json
import pathlib

import numpy as np

SENTENCES = [
    "Hello world!",
    "the quick brown fox jumps over the lazy dog.",
    "Café crème, naïve façade — déjà vu.",
    "東京は大きい都市です",
    "I love it 😀🎉",
    "",
    "UPPER lower MiXeD 123",
]

BERT_WORDS = ["the", "quick", "brown", "fox", "jump", "##s", "over", "lazy", "dog", "hello", "world", "cafe",
              "creme", "naive", "facade", "deja", "vu", "i", "love", "it", "upper", "lower", "mixed", "1", "##2",
              "##3", "café", "Hello", "The"]


def _write_safetensors(directory, tensors, shards):
    from safetensors.numpy import save_file

    tensors = {k: np.ascontiguousarray(v, dtype="float32") for k, v in tensors.items()}
    if shards <= 1:
        save_file(tensors, str(directory / "model.safetensors"))
        return
    names = sorted(tensors)
    weight_map = {}
    for i in range(shards):
        part = names[i::shards]
        file = f"model-{i + 1:05d}-of-{shards:05d}.safetensors"
        save_file({k: tensors[k] for k in part}, str(directory / file))
        weight_map.update({k: file for k in part})
    (directory / "model.safetensors.index.json").write_text(json.dumps({"metadata": {}, "weight_map": weight_map}))


def bert_vocabulary():
    chars = sorted(set("".join(SENTENCES).lower() + "".join(SENTENCES)) - {" "})
    tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *BERT_WORDS, *chars, *[f"##{c}" for c in chars]]
    return list(dict.fromkeys(tokens))  # unique, in order


def write_bert(directory, hidden=32, layers=2, heads=4, intermediate=64, positions=64, seed=0, shards=1,
               prefix="", lower_case=True, gamma_beta=False, pooler=True, hidden_act="gelu"):
    """A BertModel checkpoint with random weights; returns its directory."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = bert_vocabulary()

    def normal(*shape):
        return rng.normal(scale=0.2, size=shape)

    ln_w, ln_b = ("gamma", "beta") if gamma_beta else ("weight", "bias")
    t = {
        "embeddings.word_embeddings.weight": normal(len(vocab), hidden),
        "embeddings.position_embeddings.weight": normal(positions, hidden),
        "embeddings.token_type_embeddings.weight": normal(2, hidden),
        f"embeddings.LayerNorm.{ln_w}": 1 + normal(hidden), f"embeddings.LayerNorm.{ln_b}": normal(hidden),
    }
    for i in range(layers):
        p = f"encoder.layer.{i}"
        for name in ("query", "key", "value"):
            t[f"{p}.attention.self.{name}.weight"], t[f"{p}.attention.self.{name}.bias"] = normal(hidden, hidden), normal(hidden)
        t[f"{p}.attention.output.dense.weight"], t[f"{p}.attention.output.dense.bias"] = normal(hidden, hidden), normal(hidden)
        t[f"{p}.attention.output.LayerNorm.{ln_w}"], t[f"{p}.attention.output.LayerNorm.{ln_b}"] = 1 + normal(hidden), normal(hidden)
        t[f"{p}.intermediate.dense.weight"], t[f"{p}.intermediate.dense.bias"] = normal(intermediate, hidden), normal(intermediate)
        t[f"{p}.output.dense.weight"], t[f"{p}.output.dense.bias"] = normal(hidden, intermediate), normal(hidden)
        t[f"{p}.output.LayerNorm.{ln_w}"], t[f"{p}.output.LayerNorm.{ln_b}"] = 1 + normal(hidden), normal(hidden)
    if pooler:
        t["pooler.dense.weight"], t["pooler.dense.bias"] = normal(hidden, hidden), normal(hidden)
    _write_safetensors(directory, {prefix + k: v for k, v in t.items()}, shards)
    config = {
        "model_type": "bert", "architectures": ["BertModel"], "vocab_size": len(vocab), "hidden_size": hidden,
        "num_hidden_layers": layers, "num_attention_heads": heads, "intermediate_size": intermediate,
        "max_position_embeddings": positions, "type_vocab_size": 2, "hidden_act": hidden_act,
        "layer_norm_eps": 1e-12, "pad_token_id": 0, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "position_embedding_type": "absolute",
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    (directory / "tokenizer_config.json").write_text(json.dumps({"do_lower_case": lower_case, "strip_accents": None}))
    return directory


def bytes_to_unicode():
    """GPT-2's reversible byte -> printable character table."""
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


GPT2_MERGES = ["Ġ t", "h e", "Ġt he", "Ġ l", "o w", "Ġl ow", "e r", "Ġ w", "o r", "Ġw or", "l d", "Ġwor ld", "H e",
               "l l", "He ll", "Hell o"]


def gpt2_vocabulary():
    vocab = {c: i for i, c in enumerate(bytes_to_unicode().values())}
    for merge in GPT2_MERGES:
        vocab.setdefault(merge.replace(" ", ""), len(vocab))
    vocab["<|endoftext|>"] = len(vocab)
    return vocab


def write_gpt2(directory, hidden=32, layers=2, heads=4, positions=64, seed=0, shards=1, prefix=""):
    """A GPT2Model checkpoint with random weights; returns its directory."""
    directory = pathlib.Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    vocab = gpt2_vocabulary()

    def normal(*shape):
        return rng.normal(scale=0.2, size=shape)

    t = {"wte.weight": normal(len(vocab), hidden), "wpe.weight": normal(positions, hidden)}
    for i in range(layers):
        p = f"h.{i}"
        t[f"{p}.ln_1.weight"], t[f"{p}.ln_1.bias"] = 1 + normal(hidden), normal(hidden)
        t[f"{p}.attn.c_attn.weight"], t[f"{p}.attn.c_attn.bias"] = normal(hidden, 3 * hidden), normal(3 * hidden)
        t[f"{p}.attn.c_proj.weight"], t[f"{p}.attn.c_proj.bias"] = normal(hidden, hidden), normal(hidden)
        t[f"{p}.ln_2.weight"], t[f"{p}.ln_2.bias"] = 1 + normal(hidden), normal(hidden)
        t[f"{p}.mlp.c_fc.weight"], t[f"{p}.mlp.c_fc.bias"] = normal(hidden, 4 * hidden), normal(4 * hidden)
        t[f"{p}.mlp.c_proj.weight"], t[f"{p}.mlp.c_proj.bias"] = normal(4 * hidden, hidden), normal(hidden)
    t["ln_f.weight"], t["ln_f.bias"] = 1 + normal(hidden), normal(hidden)
    _write_safetensors(directory, {prefix + k: v for k, v in t.items()}, shards)
    config = {
        "model_type": "gpt2", "architectures": ["GPT2LMHeadModel"], "vocab_size": len(vocab), "n_embd": hidden,
        "n_layer": layers, "n_head": heads, "n_positions": positions, "n_ctx": positions, "resid_pdrop": 0.1,
        "embd_pdrop": 0.1, "attn_pdrop": 0.1, "activation_function": "gelu_new", "layer_norm_epsilon": 1e-5,
        "bos_token_id": len(vocab) - 1, "eos_token_id": len(vocab) - 1,
    }
    (directory / "config.json").write_text(json.dumps(config))
    (directory / "vocab.json").write_text(json.dumps(vocab, ensure_ascii=False), encoding="utf-8")
    (directory / "merges.txt").write_text("#version: 0.2\n" + "\n".join(GPT2_MERGES) + "\n", encoding="utf-8")
    return directory

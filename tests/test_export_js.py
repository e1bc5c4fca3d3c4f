"""The site's JavaScript forward pass (book/_static/sampler/charlm-models.js) against torch.

Each kind of model is exported small, read by the page's own code under Node, and asked
for the next character's probabilities on fixed contexts: the empty one, a prefix that fills
the window, and random ones. They must agree with torch's within 1e-5, and a perturbed weight
must show.
"""

from __future__ import annotations

import json
import shutil
import subprocess
from dataclasses import replace
from pathlib import Path

import pytest
import torch

from charlm.bigram import BigramConfig, CountingNgram
from charlm.data import build_dataset
from charlm.export import to_bytes
from charlm.models import MLPConfig, WaveNetConfig
from charlm.recurrent import RecurrentConfig
from charlm.transformer import TransformerConfig

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "book" / "_static" / "sampler" / "charlm-models.js"
NODE = shutil.which("node")
pytestmark = pytest.mark.skipif(NODE is None, reason="Node is not installed")

KINDS = {
    "bigram": BigramConfig(),
    "mlp": MLPConfig(n_embd=3, n_hidden=8),
    "mlp batchnorm": MLPConfig(n_embd=3, n_hidden=8, batchnorm=True, w1_fan_in=True),
    "mlp layernorm relu direct": MLPConfig(
        n_embd=3, n_hidden=8, layernorm=True, activation="relu", direct=True
    ),  # fmt: skip
    "wavenet": WaveNetConfig(n_embd=4, n_hidden=6, block_size=8),
    "wavenet flat": WaveNetConfig(n_embd=4, n_hidden=6, block_size=4, hierarchical=False),
    "wavenet fast": WaveNetConfig(n_embd=4, n_hidden=6, block_size=4, fast_kernels=True),
    "rnn": RecurrentConfig(cell="rnn", n_embd=4, n_hidden=6, block_size=6),
    "gru": RecurrentConfig(cell="gru", n_embd=4, n_hidden=6, block_size=6),
    "transformer": TransformerConfig(n_embd=8, n_head=2, n_layer=2, block_size=6),
}

NODE_RUN = """
const m = require(process.argv[1]);
const fs = require("fs");
const buf = fs.readFileSync(process.argv[2]);
const model = m.loadModel(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
const contexts = JSON.parse(fs.readFileSync(0, "utf8"));
console.log(JSON.stringify(contexts.map((c) => m.probabilities(model.logits(c)))));
"""


def browser_probs(blob: bytes, contexts: list[list[int]], tmp_path: Path) -> torch.Tensor:
    path = tmp_path / "model.charlm"
    path.write_bytes(blob)
    out = subprocess.run([NODE, "-e", NODE_RUN, str(SCRIPT), str(path)], check=True,
                         input=json.dumps(contexts), capture_output=True, text=True)  # fmt: skip
    return torch.tensor(json.loads(out.stdout), dtype=torch.float64)


def contexts_for(block_size: int, vocab_size: int) -> list[list[int]]:
    g = torch.Generator().manual_seed(3)
    prefix = [(i % (vocab_size - 1)) + 1 for i in range(block_size)]  # fills the window
    word = [0] * (block_size - 2) + prefix[:2]  # the start of a word
    random = torch.randint(1, vocab_size, (4, block_size), generator=g).tolist()
    return [[0] * block_size, prefix, word, *random]


def trained_model(config, vocab_size: int):
    config = replace(config, vocab_size=vocab_size)
    model = config.build(torch.Generator().manual_seed(0))
    with torch.no_grad():  # move the running statistics and the weights off their start
        for p in model.parameters():
            p.add_(0.3 * torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))
        model.train()(torch.randint(vocab_size, (32, model.block_size)))
    return config, model.eval()


@pytest.mark.parametrize("name", sorted(KINDS))
def test_the_page_computes_torchs_probabilities(name, tiny_vocab, tmp_path):
    config, model = trained_model(KINDS[name], len(tiny_vocab))
    kind = name.split()[0]
    contexts = contexts_for(model.block_size, len(tiny_vocab))
    with torch.no_grad():
        expected = torch.softmax(model(torch.tensor(contexts)).double(), dim=1)
    got = browser_probs(to_bytes(model, tiny_vocab, kind, config), contexts, tmp_path)
    assert (got - expected).abs().max() < 1e-5


def test_a_perturbed_weight_shows(tiny_vocab, tmp_path):
    config, model = trained_model(KINDS["gru"], len(tiny_vocab))
    contexts = contexts_for(model.block_size, len(tiny_vocab))
    with torch.no_grad():
        expected = torch.softmax(model(torch.tensor(contexts)).double(), dim=1)
        model.head.weight[0, 1] += 0.01
    got = browser_probs(to_bytes(model, tiny_vocab, "gru", config), contexts, tmp_path)
    assert (got - expected).abs().max() > 1e-5


def test_the_counting_model(tiny_words, tiny_vocab, tmp_path):
    for block_size in (1, 2):
        X, Y = build_dataset(tiny_words, tiny_vocab, block_size)
        model = CountingNgram(len(tiny_vocab), block_size=block_size, smoothing=0.5).fit(X, Y)
        contexts = contexts_for(block_size, len(tiny_vocab))
        expected = torch.softmax(model(torch.tensor(contexts)).double(), dim=1)
        config = {"block_size": block_size, "smoothing": 0.5}
        got = browser_probs(to_bytes(model, tiny_vocab, "counts", config), contexts, tmp_path)
        assert (got - expected).abs().max() < 1e-5


SAMPLE_RUN = """
const m = require(process.argv[1]);
const fs = require("fs");
const buf = fs.readFileSync(process.argv[2]);
const model = m.loadModel(buf.buffer.slice(buf.byteOffset, buf.byteOffset + buf.length));
const out = JSON.parse(fs.readFileSync(0, "utf8")).map(({ reread, ...options }) => {
  const chosen = reread ? { ...model, reader: null } : model;  // every prefix read again
  try { return m.sampleNames(chosen, options); } catch (error) { return error.message; }
});
console.log(JSON.stringify(out));
"""


def page_samples(blob: bytes, requests: list[dict], tmp_path: Path) -> list:
    path = tmp_path / "model.charlm"
    path.write_bytes(blob)
    out = subprocess.run([NODE, "-e", SAMPLE_RUN, str(SCRIPT), str(path)], check=True,
                         input=json.dumps(requests), capture_output=True, text=True)  # fmt: skip
    return json.loads(out.stdout)


def counting(words, vocab, smoothing=1.0, block_size=1):
    X, Y = build_dataset(words, vocab, block_size)
    model = CountingNgram(len(vocab), block_size, smoothing).fit(X, Y)
    return to_bytes(model, vocab, "counts", {"block_size": block_size, "smoothing": smoothing})


def test_the_page_samples_with_its_seed_and_options(tiny_words, tiny_vocab, tmp_path):
    blob = counting(tiny_words, tiny_vocab)
    a, b, c, prefixed = page_samples(blob, [
        {"n": 30, "seed": 7}, {"n": 30, "seed": 7}, {"n": 30, "seed": 8},
        {"n": 10, "seed": 1, "prefix": "em"},
    ], tmp_path)  # fmt: skip
    assert a == b and a != c and len(a) == 30 and len(set(a)) > 5
    assert all(w.startswith("em") for w in prefixed)
    # top-k 1 on a model without ties: the most likely character every time, one name
    _, model = trained_model(KINDS["gru"], len(tiny_vocab))
    blob = to_bytes(model, tiny_vocab, "gru", KINDS["gru"])
    ((greedy),) = page_samples(blob, [{"n": 3, "seed": 1, "topK": 1, "maxLen": 12}], tmp_path)
    assert len(set(greedy)) == 1


def test_the_page_writes_the_only_word_a_model_knows(tiny_vocab, tmp_path):
    blob = counting(["ava"], tiny_vocab, smoothing=0.0, block_size=2)  # a trigram: one path
    assert page_samples(blob, [{"n": 4, "seed": 3}], tmp_path) == [["ava"] * 4]


def test_the_pages_first_letters_follow_the_model(tiny_words, tiny_vocab, tmp_path):
    X, Y = build_dataset(tiny_words, tiny_vocab, 1)
    model = CountingNgram(len(tiny_vocab)).fit(X, Y)
    many = [w for request in page_samples(counting(tiny_words, tiny_vocab),
                                          [{"n": 100, "seed": s} for s in range(40)], tmp_path)
            for w in request]  # fmt: skip
    first = torch.tensor([tiny_vocab.stoi[w[0]] if w else 0 for w in many])
    share = torch.bincount(first, minlength=len(tiny_vocab)).double() / len(many)
    expected = model.probs[0].double()
    assert (share - expected).abs().max() < 0.03


def test_bad_options_get_a_message_not_a_wrong_answer(tiny_words, tiny_vocab, tmp_path):
    blob = counting(tiny_words, tiny_vocab)
    messages = page_samples(blob, [
        {"temperature": 0}, {"temperature": None}, {"temperature": "hot"},
        {"temperature": 1e9}, {"topK": 0}, {"topK": 1.5}, {"seed": -1}, {"n": 0},
        {"prefix": "Zoe"}, {"prefix": "a.b"},
    ], tmp_path)  # fmt: skip
    assert all(isinstance(m, str) for m in messages), messages
    assert "temperature" in messages[0] and "temperature" in messages[2]
    assert "100" in messages[3] and "Top-k" in messages[4] and "seed" in messages[6]
    assert '"Z"' in messages[8] and '"."' in messages[9]


@pytest.mark.parametrize("kind", ["rnn", "gru", "transformer"])
def test_reading_on_gives_the_names_reading_again_gives(kind, tiny_vocab, tmp_path):
    # the models of Chapter 7 keep a reader per name; rereading the prefix is the definition
    config, model = trained_model(KINDS[kind], len(tiny_vocab))
    blob = to_bytes(model, tiny_vocab, kind, config)
    requests = [{"n": 8, "seed": 5, "maxLen": 12}, {"n": 8, "seed": 5, "prefix": "ab"}]
    kept = page_samples(blob, requests, tmp_path)
    again = page_samples(blob, [{**r, "reread": True} for r in requests], tmp_path)
    assert kept == again and max(len(w) for w in kept[0]) >= model.block_size  # past the window

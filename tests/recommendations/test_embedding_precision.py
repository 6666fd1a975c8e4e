"""The embedding model's precision: bfloat16 (the default where the CPU computes it natively) must give the same
answers as float32 — vectors with cosine ≥ 0.9995 to the float32 ones and the same nearest neighbours."""

from __future__ import annotations

import numpy as np
import pytest
from django.core.exceptions import ImproperlyConfigured

from apps.recommendations.apps import RecommendationsConfig
from apps.recommendations.demo.generate import generate
from apps.recommendations.ml import embeddings as emb

SPECS = [p.spec for p in generate(80, seed=31)]


@pytest.fixture(scope="module")
def float32_vectors():
    return emb.encode(SPECS, model=emb.load_model("float32"))


def test_the_process_model_runs_in_the_resolved_precision():
    model = emb.get_model()
    assert str(next(model.parameters()).dtype) == f"torch.{emb.resolved_precision()}"
    assert emb.resolved_precision("float32") == "float32"
    assert emb.resolved_precision("auto") == ("bfloat16" if emb.bfloat16_native() else "float32")


def test_encoded_vectors_are_unit_length_float32():
    vectors = emb.encode(SPECS[:10])
    assert vectors.dtype == np.float32 and vectors.shape == (10, emb.DIMENSION)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)


@pytest.mark.skipif(not emb.bfloat16_native(), reason="this CPU has no native bfloat16")
def test_bfloat16_agrees_with_float32(float32_vectors):
    bf16 = emb.encode(SPECS, model=emb.load_model("bfloat16"))
    assert bf16.dtype == np.float32
    cosine = (bf16 * float32_vectors).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine.min()
    # the same five nearest neighbours (other specs) for every spec, whichever precision embeds the query
    reference = float32_vectors @ float32_vectors.T
    mixed = bf16 @ float32_vectors.T
    np.fill_diagonal(reference, -np.inf)
    np.fill_diagonal(mixed, -np.inf)
    for i in range(len(SPECS)):
        assert set(np.argsort(-reference[i])[:5]) == set(np.argsort(-mixed[i])[:5]), i


def test_an_unknown_precision_is_rejected_at_start_up(settings):
    with pytest.raises(ValueError, match="not 'float16'"):
        emb.set_precision("float16")
    settings.RECOMMENDATIONS_EMBEDDING_PRECISION = "half"
    config = RecommendationsConfig("apps.recommendations", __import__("apps.recommendations"))
    try:
        with pytest.raises(ImproperlyConfigured, match="RECOMMENDATIONS_EMBEDDING_PRECISION"):
            config.ready()
    finally:
        emb.set_precision("auto")


@pytest.mark.parametrize("precision", ["float32", "bfloat16"])
def test_a_single_text_encodes_as_model_encode_does(precision):
    """``encode`` of one text (the request path) takes a shorter route than ``model.encode``; same vector, also for a
    text longer than the model's 256 word pieces (truncated the same way)."""
    if precision == "bfloat16" and not emb.bfloat16_native():
        pytest.skip("this CPU has no native bfloat16")
    model = emb.load_model(precision)
    for text in (SPECS[0], " ".join(SPECS[:6]), "x"):
        ours = emb.encode([text], model=model)[0]
        reference = model.encode([text], normalize_embeddings=True, convert_to_numpy=True)[0].astype(np.float32)
        assert np.dot(ours, reference / np.linalg.norm(reference)) >= 0.99999
    assert len(model.tokenizer(" ".join(SPECS[:6]))["input_ids"]) > model.max_seq_length
    # dropout is off: the same text gives the same vector every time
    assert np.array_equal(emb.encode([SPECS[1]], model=model), emb.encode([SPECS[1]], model=model))

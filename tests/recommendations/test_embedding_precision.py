"""The embedding model's precision: bfloat16 (the default where the CPU computes it natively) must give the same
answers as float32 — vectors with cosine ≥ 0.9995 to the float32 ones and the same nearest neighbours up to ties.

"Up to ties" is what can hold on every CPU: torch and oneDNN take different bfloat16 kernels on different CPUs
(native AVX-512 BF16 / AMX, or converted to float32 on AVX2), each rounding differently, and the demo specs are
written from templates, so some have two candidates for a query's fifth neighbour whose float32 similarities differ
by 0.0001–0.003. Which of those wins in bfloat16 depends on the kernel. A tie is a difference smaller than
bfloat16's machine epsilon (2⁻⁷ ≈ 0.0078: with 8 significant bits, bfloat16 cannot tell two similarities near 1
closer than that apart); a neighbour may change only between candidates tied with the float32 k-th neighbour, and
recall@5 over 200 specs has a floor."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from django.core.exceptions import ImproperlyConfigured

from apps.recommendations.apps import RecommendationsConfig
from apps.recommendations.demo.generate import generate
from apps.recommendations.ml import embeddings as emb

SPECS = [p.spec for p in generate(200, seed=31)]
K = 5
TIE = float(torch.finfo(torch.bfloat16).eps)  # 2**-7
MIN_RECALL = 0.98  # measured 0.996-0.999 on the code paths named in docs/recommendations.md


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


def neighbour_changes(reference: np.ndarray, other: np.ndarray, k: int = K) -> tuple[dict, float]:
    """Compare each row's top ``k`` columns under ``other`` with those under ``reference`` (similarity matrices).

    Returns the changes that are not ties — {row: {column: its reference similarity minus the reference k-th's}}
    for every column in one top-k but not the other that lies further than ``TIE`` from the k-th — and recall@k."""
    untied, found = {}, 0
    for i in range(len(reference)):
        ranked = np.argsort(-reference[i])
        expected, got = set(ranked[:k].tolist()), set(np.argsort(-other[i])[:k].tolist())
        kth = reference[i, ranked[k - 1]]
        far = {j: round(float(reference[i, j] - kth), 5) for j in expected ^ got if abs(reference[i, j] - kth) > TIE}
        if far:
            untied[i] = far
        found += len(expected & got)
    return untied, found / (k * len(reference))


def test_bfloat16_agrees_with_float32_up_to_ties(float32_vectors):
    """Runs on every CPU: where bfloat16 is not native torch computes it another way, and the claim must hold there
    too (``RECOMMENDATIONS_EMBEDDING_PRECISION=bfloat16`` may be set anywhere, and stored vectors are shared by all
    processes whatever CPU wrote them)."""
    bf16 = emb.encode(SPECS, model=emb.load_model("bfloat16"))
    assert bf16.dtype == np.float32
    cosine = (bf16 * float32_vectors).sum(axis=1)
    assert cosine.min() >= 0.9995, cosine.min()
    # the nearest neighbours (other specs) of every spec, whichever precision embeds the query
    reference = float32_vectors @ float32_vectors.T
    mixed = bf16 @ float32_vectors.T
    np.fill_diagonal(reference, -np.inf)
    np.fill_diagonal(mixed, -np.inf)
    untied, recall = neighbour_changes(reference, mixed)
    assert not untied, f"neighbours changed beyond a tie: {untied}"
    assert recall >= MIN_RECALL, recall


def test_the_neighbour_check_tells_ties_from_real_changes():
    """The check above can fail: one row's 5th and 6th candidates swap within a tie, another's across a real gap."""
    reference = np.array([[0.9, 0.8, 0.7, 0.6, 0.500, 0.497, 0.1], [0.9, 0.8, 0.7, 0.6, 0.50, 0.40, 0.1]])
    other = reference.copy()
    other[:, [4, 5]] = other[:, [5, 4]]
    assert neighbour_changes(reference, other) == ({1: {5: -0.1}}, 0.8)
    assert neighbour_changes(reference, reference) == ({}, 1.0)


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

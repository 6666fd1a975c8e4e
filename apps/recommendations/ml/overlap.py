"""Requirement overlap between two specs: which requirement sentences match, and an overall score.

Splitting: a spec is cut into requirement sentences at line breaks, list bullets (``-``, ``*``, ``•``, ``1.``,
``a)``), semicolons, and sentence ends (``.``, ``!``, ``?`` followed by white space). This is a hand-written regular
expression rather than a sentence tokenizer library (e.g. NLTK's punkt, which needs downloaded data at run time)
because specs are lists of short requirements where line and bullet structure matters more than prose
punctuation. Fragments shorter than three words are dropped (headings like "Requirements:").

Matching: every sentence of A and of B is embedded; a one-to-one assignment maximising the total cosine
similarity over the pairs at or above ``min_similarity`` is found with the Hungarian algorithm
(``scipy.optimize.linear_sum_assignment``); pairs below the threshold are not matches. The overlap score is

    overlap = Σ_{matched pairs} sim / ((|A| + |B|) / 2)

in [0, 1]: 1 when every sentence of both specs has an identical counterpart, 0 when nothing matches.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
from scipy.optimize import linear_sum_assignment

_SPLIT = re.compile(
    r"(?:\r?\n)+"  # line breaks
    r"|;\s*"  # semicolons
    r"|(?<=[.!?])\s+(?=[\"'(\[]?[A-Z0-9])"  # sentence ends followed by a capital or digit
)
_BULLET = re.compile(r"^\s*(?:[-*•·]+|\d{1,3}[.)]|[a-zA-Z][.)])\s+")
MIN_WORDS = 3


def split_requirements(text: str) -> list[str]:
    out = []
    for part in _SPLIT.split(text or ""):
        sentence = _BULLET.sub("", part).strip().strip("-*•· ").strip()
        if len(sentence.split()) >= MIN_WORDS:
            out.append(sentence)
    return out


@dataclass(frozen=True)
class Match:
    a: int
    b: int
    similarity: float


def match(emb_a: np.ndarray, emb_b: np.ndarray, min_similarity: float) -> list[Match]:
    if len(emb_a) == 0 or len(emb_b) == 0:
        return []
    sims = emb_a @ emb_b.T
    # Pairs below the threshold count as 0, so a forced bad pairing never displaces good ones.
    rows, cols = linear_sum_assignment(np.where(sims >= min_similarity, sims, 0.0), maximize=True)
    pairs = [Match(int(r), int(c), float(sims[r, c])) for r, c in zip(rows, cols, strict=True)]
    return sorted((p for p in pairs if p.similarity >= min_similarity), key=lambda p: -p.similarity)


def overlap_score(matches: list[Match], n_a: int, n_b: int) -> float:
    if n_a + n_b == 0:
        return 0.0
    return float(min(1.0, sum(m.similarity for m in matches) / ((n_a + n_b) / 2)))

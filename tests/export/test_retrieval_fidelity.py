"""export/retrieval.py: text -> image top-10 overlap of a quantised export with fp32, and the int8 gate on it."""
from __future__ import annotations

import numpy as np
import pytest

from export.retrieval import top_k_overlap
from export.verify import Thresholds, _retrieval_gate


def _scores(n=40, gallery=200, seed=0):
    return np.random.default_rng(seed).normal(size=(n, gallery))


def test_identical_rankings_overlap_fully():
    s = _scores()
    r = top_k_overlap(s, s.copy())
    assert r["overlap_mean"] == r["overlap_min"] == 1.0 and r["gallery"] == 200 and r["n_queries"] == 40
    assert top_k_overlap(s[:, :10], s[:, :10]) is None  # a gallery of k items ranks nothing


def test_near_ties_are_not_decisive_but_a_defect_is():
    s = _scores()
    rng = np.random.default_rng(1)
    noisy = s + rng.normal(scale=0.02, size=s.shape)  # rounding-like noise: swaps members near 10th place
    r = top_k_overlap(s, noisy)
    assert r["overlap_mean"] < 1.0 and r["n_decisive"] > 0 and r["decisive_overlap"] >= 0.99
    broken = s.copy()
    broken[:, :100] = s[:, 100:]  # half the gallery's scores swapped: rankings change for real
    broken = broken + rng.normal(scale=0.02, size=s.shape)
    bad = top_k_overlap(s, broken)
    assert bad["decisive_overlap"] < 0.9 and bad["overlap_mean"] < 0.9


def test_int8_gate_refuses_a_low_decisive_overlap():
    t = Thresholds()
    ok = {"decisive_overlap": 0.95, "overlap_mean": 0.9}
    low = {"decisive_overlap": 0.8, "overlap_mean": 0.8}
    assert _retrieval_gate("int8", True, "rule", ok, t)[0]
    passed, rule = _retrieval_gate("int8", True, "rule", low, t)
    assert not passed and "top-10 kept >= 0.9" in rule
    assert not _retrieval_gate("int8", False, "rule", ok, t)[0]  # an earlier failure stays a failure
    passed, rule = _retrieval_gate("int8", True, "rule", {"decisive_overlap": None, "overlap_mean": 0.5}, t)
    assert passed and "not measurable" in rule
    assert _retrieval_gate("fp32", True, "rule", low, t) == (True, "rule")  # fp32 gates on cosine


@pytest.mark.parametrize("noise", [1e-3])
def test_verification_records_top10_overlap(tiny_student, tmp_path, noise):
    from tests.export.test_common import FakeBackend
    from export.pipeline import export_checkpoint
    from export.verify import verification_table

    manifest = export_checkpoint(FakeBackend(noise=noise), tiny_student, tmp_path, quantize="int8",
                                 towers=["image"], thresholds=Thresholds(int8_agreement=0.0, int8_top10_overlap=0.0))
    (m,) = manifest["models"]
    r = m["verification"]["retrieval_top10"]
    assert r["k"] == 10 and r["gallery"] == m["verification"]["zero_shot_n"] and 0 <= r["overlap_mean"] <= 1
    assert "top-10 kept" in m["verification"]["threshold"] and "top-10 kept" in verification_table(manifest["models"])

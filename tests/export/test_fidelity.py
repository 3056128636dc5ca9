"""export.fidelity: zero-shot flips count only where the fp32 margin clears the measured int8 noise."""
import numpy as np
import pytest

from export.fidelity import zero_shot_fidelity


def _logits(n=200, classes=10, seed=0, tie_every=4):
    """Cosine-like logits; every ``tie_every``-th input has its top two classes within 1e-4 (a near tie)."""
    rng = np.random.default_rng(seed)
    ref = rng.normal(0.2, 0.05, (n, classes))
    top = ref.argmax(1)
    ref[np.arange(n), top] += 0.05  # a clear winner ...
    ties = np.arange(0, n, tie_every)
    runner = (top[ties] + 1) % classes
    ref[ties, runner] = ref[ties, top[ties]] - 1e-4  # ... except near ties
    return ref, ties, runner


def test_identical_logits_agree_fully():
    ref, _, _ = _logits()
    f = zero_shot_fidelity(ref, ref.copy())
    assert f.noise == 0 and f.raw_agreement == 1 and f.decisive_agreement == 1 and f.n_decisive == f.n == 200


def test_near_tie_flips_are_not_counted_but_shown_in_raw_agreement():
    ref, ties, runner = _logits()
    rng = np.random.default_rng(1)
    got = ref + rng.normal(0, 1e-3, ref.shape)  # int8-like noise, far above the 1e-4 near-tie margins
    got[ties, runner] += 5e-3  # the noise decides every near tie the other way
    f = zero_shot_fidelity(ref, got)
    assert f.raw_agreement <= 0.76  # a quarter of the inputs flipped: raw agreement "fails" a 98 % gate
    assert f.decisive_flips == 0 and f.decisive_agreement == 1.0
    assert f.n - f.n_decisive >= len(ties)  # every near tie is excluded, and reported
    assert 1e-3 < f.noise < 2e-3 and f.margin_threshold == pytest.approx(3 * f.noise * np.sqrt(2))


def test_decisive_flip_is_counted():
    ref, ties, _ = _logits()
    rng = np.random.default_rng(2)
    got = ref + rng.normal(0, 1e-3, ref.shape)
    clear = 1  # not a near tie: fp32 margin ~0.05, far above the noise threshold
    got[clear, (ref[clear].argmax() + 3) % ref.shape[1]] += 0.5  # a real defect changes a clear decision
    f = zero_shot_fidelity(ref, got)
    assert f.decisive_flips == 1 and f.decisive_agreement == pytest.approx(1 - 1 / f.n_decisive)
    assert f.noise < 1.5e-3  # the defect does not inflate the noise estimate (robust: median absolute deviation)


def test_row_shift_is_not_noise():
    ref, _, _ = _logits()
    f = zero_shot_fidelity(ref, ref + np.linspace(-1, 1, ref.shape[0])[:, None])  # same ranking per input
    assert f.noise == pytest.approx(0, abs=1e-12) and f.decisive_agreement == 1


def test_no_decisive_input_is_not_a_pass():
    ref = np.full((5, 3), 0.3)
    ref[:, 0] += 1e-6
    f = zero_shot_fidelity(ref, ref + np.random.default_rng(3).normal(0, 1e-3, ref.shape))
    assert f.n_decisive == 0 and f.decisive_agreement is None
    assert zero_shot_fidelity(*[_logits()[0]] * 2, min_decisive=500).decisive_agreement is None
    assert set(f.as_dict()) >= {"raw_agreement", "decisive_agreement", "noise", "n_decisive"}


@pytest.mark.parametrize("ref, got, match", [
    (np.zeros((3, 4)), np.zeros((3, 5)), "two equal"),
    (np.zeros(4), np.zeros(4), "two equal"),
    (np.zeros((3, 1)), np.zeros((3, 1)), "two classes"),
    (np.zeros((2, 3)), np.full((2, 3), np.nan), "NaN"),
])
def test_bad_input(ref, got, match):
    with pytest.raises(ValueError, match=match):
        zero_shot_fidelity(ref, got)

"""--loss-terms: which loss families a KD run trains (the KD study's grid is built from it)."""
import pytest

import mobileclip  # noqa: F401
from mobileclip.training.loop import ALL_TERMS, Schedule, train
from mobileclip.training.schedule import DEFAULT_LOSS_TERMS, loss_families
from mobileclip.utils.errors import TrainError
from tests.support.data import make_csv
from tests.support.training import base_cfg, read_log


def test_families_parse_in_a_fixed_order_and_affinity_adds_am():
    assert loss_families("rd,fd") == ["fd", "rd"]
    assert loss_families(DEFAULT_LOSS_TERMS, affinity=True) == ["contrastive", "fd", "icl", "rd", "am"]
    for bad in ("", "fd,fd", "kl", "fd,,xx"):
        with pytest.raises(TrainError, match="--loss-terms"):
            loss_families(bad)


def test_each_phase_keeps_its_own_families():
    s = Schedule(10, True, 0, 3, ["icl", "rd"])
    assert s.terms("distil") == ["icl_image", "icl_text", "rd_i2t", "rd_t2i"]
    assert s.terms("joint") == ["icl_image", "icl_text", "rd_i2t", "rd_t2i"]  # no contrastive: teacher only
    assert Schedule(10, True, families=loss_families("contrastive,fd")).terms("distil") == ["fd_image", "fd_text"]


def test_a_phase_left_without_terms_is_one_line():
    with pytest.raises(TrainError, match="align phase .* --align-steps 0"):
        Schedule(10, True, 2, 3, ["rd"])
    with pytest.raises(TrainError, match="distil phase .* --distil-steps 0"):
        Schedule(10, True, 0, 3, ["contrastive"])


def test_a_run_trains_only_the_chosen_families(tmp_path, tiny_teacher_dir):
    csv = make_csv(tmp_path / "d", 8)
    out = tmp_path / "rd"
    train(base_cfg(csv, out, tiny_teacher_dir, steps=3, align_steps=0, distil_steps=0, loss_terms="rd"))
    for r in read_log(out):
        assert {t for t in ALL_TERMS if r[t] != ""} == {"rd_i2t", "rd_t2i"}
    with pytest.raises(TrainError, match="--loss-terms"):
        train(base_cfg(csv, tmp_path / "bad", tiny_teacher_dir, steps=3, loss_terms="fd,xx"))
    assert not (tmp_path / "bad").exists()  # refused before any folder

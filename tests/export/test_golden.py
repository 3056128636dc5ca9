"""python -m mobileclip.golden: the CLI contract (the fixtures themselves are checked in test_android_core.py)."""
import pytest

from export import golden


def test_help_documents_options(capsys):
    with pytest.raises(SystemExit) as e:
        golden.main(["--help"])
    out = capsys.readouterr().out
    assert e.value.code == 0 and "--out" in out and "--no-app-copies" in out


def test_out_is_a_file_gives_one_line_error(tmp_path, capsys):
    target = tmp_path / "file.txt"
    target.write_text("x")
    with pytest.raises(SystemExit) as e:
        golden.main(["--out", str(target)])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.count("\n") == 0 and "error:" in err and "not a folder" in err


def test_reference_ranking_orders_ties_by_index():
    import numpy as np

    r = golden.rank(np.array([1.0, 0.0]), np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 1.0]]), k=3)
    assert r["top_k"] == [0, 1, 2]
    assert abs(sum(r["probabilities"]) - 1.0) < 1e-9

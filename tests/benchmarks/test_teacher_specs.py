"""benchmarks.params and benchmarks.latency take every teacher spec: an ensemble's towers are its members' (params
and MACs add up), a SigLIP text tower is counted and timed on its own token ids (its context, not CLIP's 77)."""
from __future__ import annotations

import pytest

import mobileclip  # noqa: F401
from mobileclip import load_teacher, tower_parameters
from mobileclip.models.model import count_macs
from tests.support.teachers import tiny_open_clip_dir, tiny_siglip_dir


@pytest.fixture(scope="module")
def specs(tmp_path_factory):
    root = tmp_path_factory.mktemp("bench_teachers")
    oc, sig = tiny_open_clip_dir(root / "oc"), tiny_siglip_dir(root / "siglip")
    return {"oc": f"open_clip:local-dir:{oc}", "sig": str(sig), "ens": f"ensemble:open_clip:local-dir:{oc},{sig}"}


def test_params_counts_each_family_and_an_ensemble_as_its_members(specs, tmp_path):
    from benchmarks.params import main

    res = {k: main(["--students", "", "--teacher", spec, "--json", str(tmp_path / f"{k}.json")])["models"][0]
           for k, spec in specs.items()}
    assert res["sig"]["context_length"] == 16 and res["oc"]["context_length"] == 77  # each tower's own ids
    for key in ("image", "text"):
        assert res["ens"]["params"][key] == res["oc"]["params"][key] + res["sig"]["params"][key]
    assert res["ens"]["macs"]["text"] == res["oc"]["macs"]["text"] + res["sig"]["macs"]["text"] > 0
    sig = load_teacher(specs["sig"])
    fn, x = sig.text_tower_call(mobileclip.get_tokenizer()(["a photo of a dog."]))
    assert x["input_ids"].shape == (1, 16) and res["sig"]["macs"]["text"] == count_macs(fn, x)
    assert res["sig"]["params"]["total"] == tower_parameters(sig)["total"] and res["ens"]["role"] == "teacher"


def test_latency_times_a_siglip_and_an_ensemble_teacher(specs, tmp_path):
    from benchmarks.latency import main

    for spec in (specs["sig"], specs["ens"]):
        res = main(["--students", "", "--teacher", spec, "--runtimes", "eager", "--threads", "1", "--warmup", "1",
                    "--repeats", "2", "--no-progress", "--quiet-skips", "--json", str(tmp_path / "lat.json")])
        rows = [r for r in res["results"] if r["role"] == "teacher"]
        assert {r["tower"] for r in rows} == {"image", "text"} and all(r["median_ms"] > 0 for r in rows)

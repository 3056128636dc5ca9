"""Fuzzing what users hand us (hypothesis, bounded: each test a few seconds): captions, caption CSVs,
manifest JSON, checkpoint payloads. The rule everywhere: a result of the documented shape, or one
MobileClipError -- never another exception (a traceback for the user)."""
from __future__ import annotations

import io
import json
import contextlib
import tempfile
from pathlib import Path

import pytest
import torch
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from mobileclip import get_tokenizer
from mobileclip.utils.errors import MobileClipError

REPO = Path(__file__).resolve().parents[2]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# ------------------------------------------------------------------------------------------------ captions
TOK = get_tokenizer()
unicode_text = st.text(st.characters(codec=None, exclude_categories=("Cs",)), max_size=300)
nasty = st.sampled_from(["\0", "\ufeff", "\u200b", "&amp;", "&#x1F600;", "ﬁ", "Ａ", "\u0085", "\r\n", "  ", "'s",
                         "🙂", "中文", "é", "e\u0301", "\U0010FFFF"])
caption = st.one_of(unicode_text, st.lists(st.one_of(nasty, unicode_text), max_size=20).map("".join))


@FAST
@given(caption)
@example("")
@example("\0" * 50)
@example("a photo of a cat " * 1250)  # 21k characters
def test_captions_always_give_77_ids(text):
    ids = TOK([text])[0].tolist()
    assert len(ids) == 77
    assert ids[0] == TOK.sot_token_id and TOK.eot_token_id in ids
    eot = ids.index(TOK.eot_token_id)
    assert all(0 <= i < TOK.vocab_size for i in ids)
    assert all(i == TOK.pad_token_id for i in ids[eot + 1:])
    assert TOK([text])[0].tolist() == ids  # deterministic


def test_long_random_caption_is_truncated_with_eot():
    text = "".join(chr(0x4E00 + (i * 7919) % 20000) for i in range(20_000))
    ids = TOK([text])[0].tolist()
    assert len(ids) == 77 and ids[-1] == TOK.eot_token_id


def test_golden_captions_still_match_python():
    """The apps' golden rules (captions.json: text -> ids, checked against Java/Swift in their suites) are
    what Python produces now, so Python's behaviour on the fuzzed captions above is the shared rule."""
    cases = json.loads((REPO / "golden" / "captions.json").read_text())["cases"]
    assert cases
    for c in cases:
        assert TOK([c["text"]])[0].tolist() == c["ids"], c["text"]


# ---------------------------------------------------------------------------------------------- caption CSV
header = st.lists(st.sampled_from(["image", "caption", "Image", "\ufeffimage", "caption ", "", "x", "é"]),
                  min_size=0, max_size=4)
cell = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=30)
encoding = st.sampled_from(["utf-8", "utf-8-sig", "utf-16", "latin-1", "cp1252"])


@FAST
@given(header, st.lists(st.lists(cell, max_size=4), max_size=5), encoding)
def test_caption_csv_headers_and_encodings(fields, rows, enc):
    import csv

    from mobileclip.data.datasets import read_caption_csv

    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(fields)
    w.writerows(rows)
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        try:
            p.write_bytes(buf.getvalue().encode(enc))
        except UnicodeEncodeError:
            return
        try:
            got = read_caption_csv(p)
        except MobileClipError as e:
            assert "\n" not in str(e)
            return
        assert got and all(isinstance(c, str) and isinstance(i, Path) for i, c in got)
        if enc in ("utf-8", "utf-8-sig") and fields[:2] == ["image", "caption"]:
            assert [c for _, c in got] == [r[1] for r in rows if len(r) >= 2 and r[0]]


@FAST
@given(st.binary(max_size=300))
def test_caption_csv_random_bytes(raw):
    from mobileclip.data.datasets import read_caption_csv

    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "c.csv"
        p.write_bytes(raw)
        try:
            read_caption_csv(p)
        except MobileClipError:
            pass


# ------------------------------------------------------------------------------------------------ manifests
json_scalar = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6),
                        st.floats(allow_nan=False, allow_infinity=False), st.text(max_size=20))
json_value = st.recursive(json_scalar, lambda inner: st.one_of(st.lists(inner, max_size=4),
                                                               st.dictionaries(st.text(max_size=8), inner, max_size=4)),
                          max_leaves=20)
GOLDEN_MANIFEST = json.loads((REPO / "golden" / "manifest.json").read_text())
file_name = st.one_of(st.text(max_size=40), st.sampled_from(["../x.pte", "/etc/passwd", "a/../../b", "./ok.pte",
                                                             "executorch/image_int8.pte", "a//b", "\0", "..", "."]))


def _read(folder: Path, text: str):
    from export.manifest import read_manifest
    from export.runtime import list_exported

    (folder / "manifest.json").write_text(text)
    try:
        read_manifest(folder)
        models = list_exported(folder)
    except MobileClipError as e:
        assert "\n" not in str(e)
        return None
    root = folder.resolve()
    for m in models:
        assert root in Path(m["path"]).parents  # every listed file lies inside the folder
    return models


@FAST
@given(json_value)
def test_manifest_any_json(value):
    with tempfile.TemporaryDirectory() as d:
        _read(Path(d), json.dumps(value))
        _read(Path(d), json.dumps({**GOLDEN_MANIFEST, "models": value}))


@FAST
@given(st.lists(st.fixed_dictionaries({"file": file_name}), max_size=3), st.text(max_size=40))
def test_manifest_file_names_and_invalid_json(entries, junk):
    from export.manifest import check_existing_manifest

    models = [{**GOLDEN_MANIFEST["models"][0], **e} for e in entries]
    with tempfile.TemporaryDirectory() as d:
        _read(Path(d), json.dumps({**GOLDEN_MANIFEST, "models": models}))
        _read(Path(d), junk)
        try:
            check_existing_manifest(d)
        except MobileClipError:
            pass


@FAST
@given(json_value)
def test_strict_json_writer(value):
    from mobileclip.utils.fileio import dumps_json

    bad = {"x": [value, float("nan")]}
    assert json.loads(dumps_json(value)) == json.loads(json.dumps(value))
    with pytest.raises(MobileClipError, match="/x/1"):
        dumps_json(bad)


# ---------------------------------------------------------------------------------------- checkpoint payloads
tensor = st.builds(lambda shape, fill: torch.full(shape, fill),
                   st.lists(st.integers(0, 3), max_size=3).map(tuple),
                   st.one_of(st.floats(allow_nan=True, allow_infinity=True, width=32), st.integers(-3, 3)))
leaf = st.one_of(json_scalar, tensor)
payload_value = st.recursive(leaf, lambda inner: st.one_of(st.lists(inner, max_size=3),
                                                           st.dictionaries(st.text(max_size=6), inner, max_size=4)),
                             max_leaves=12)
payload = st.one_of(
    st.dictionaries(st.sampled_from(["format", "format_version", "model_config", "state_dict", "extra", "tokenizer",
                                     "preprocess", "x"]), payload_value, max_size=6),
    st.dictionaries(st.sampled_from(["format_version", "model_config", "state_dict", "extra"]), payload_value,
                    max_size=4).map(lambda d: {**d, "format": "mobileclip-kd"}),
    payload_value)


@contextlib.contextmanager
def saved(obj):
    """``obj`` written with ``torch.save`` to a temporary ``.pt`` file (removed afterwards)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "x.pt"
        torch.save(obj, p)
        yield p


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload)
def test_checkpoint_payloads_load(obj):
    from mobileclip import load_checkpoint

    with saved(obj) as p:
        try:
            load_checkpoint(p)
        except MobileClipError as e:
            assert "\n" not in str(e)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(payload)
def test_checkpoint_payloads_resume(obj):
    from mobileclip.training.resume import read_resume_payload
    from mobileclip.training.hf_proxy import HF_TRAIN_FORMAT

    with saved(obj) as p:
        opt = torch.optim.SGD([torch.nn.Parameter(torch.zeros(1))], lr=0.1)
        try:
            read_resume_payload(p, {"w": torch.zeros(1)}, None, {"log_vars": torch.zeros(1)}, opt, HF_TRAIN_FORMAT)
        except MobileClipError as e:
            assert "\n" not in str(e)


def test_checkpoint_with_code_is_refused(tmp_path):
    class Evil:
        def __reduce__(self):
            return (exec, ("raise SystemExit('pwned')",))
    p = tmp_path / "evil.pt"
    torch.save({"format": "mobileclip-kd", "x": Evil()}, p)
    from mobileclip import load_checkpoint

    with pytest.raises(MobileClipError, match="not a readable checkpoint"):
        load_checkpoint(p)

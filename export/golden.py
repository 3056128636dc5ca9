"""Golden fixtures shared by the Android (Java) and iOS (Swift) demo apps.

``python -m mobileclip.golden [--out golden]`` regenerates, from the REAL Python code paths:

- ``tokenizer/vocab.json`` + ``tokenizer/merges.txt``: ``get_tokenizer().export_vocab`` (what the apps read);
- ``tokenizer/text_cleanup.json``: the tables behind the tokenizer's text clean-up (Python's
  ``html.entities.html5`` and ``html`` numeric-reference rules, ftfy's entity, ligature, width, C1 and control
  tables) so the apps replicate ``ftfy.fix_text`` + ``html.unescape`` without guessing. The same file is
  copied into the Java core's and the Swift package's resources (``--no-app-copies`` skips that);
- ``captions.json``: text -> 77 ids from ``get_tokenizer()`` (unicode, accents, emoji, CJK, punctuation,
  contractions, numbers, HTML entities, odd whitespace, over-long text);
- ``images/*.png`` + ``preprocess.json``: small generated images (downscale, upscale, non-square, odd crop
  offsets, RGBA) and the float32 tensors ``mobileclip.image_transform`` makes of them;
- ``ranking.json``: embeddings -> expected cosine top-k order, scores and softmax probabilities;
- ``manifest.json``: a sample export manifest in the agreed format.

Writes go to a temporary folder that replaces the output folder at the end (never half-written).
"""
from __future__ import annotations

import argparse
import html
import html.entities
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np

from mobileclip.utils.torchvision_guard import import_torchvision
from mobileclip.utils.errors import MobileClipError, cli_errors
from mobileclip.models.transform import CLIP_MEAN, CLIP_STD

from .files import sha256_of

REPO = Path(__file__).resolve().parents[1]
DEFAULT_OUT = REPO / "golden"
APP_COPIES = (
    REPO / "android_demo" / "core" / "src" / "main" / "resources" / "mobileclip" / "text_cleanup.json",
    REPO / "ios_demo" / "MobileCLIPKit" / "Sources" / "MobileCLIPKit" / "Resources" / "text_cleanup.json",
)
GOLDEN_IMAGE_SIZE = 32

CAPTIONS: list[tuple[str, str]] = [
    ("basic", "a photo of a cat."),
    ("upper_case", "A PHOTO OF A DOG"),
    ("mixed_case_whitespace", "  A   Photo\tof a\n\nCAT.  "),
    ("empty", ""),
    ("whitespace_only", " \t\n "),
    ("contractions", "it's a dog's life, isn't it? they're here, we've seen it, I'm sure you'll see, he'd go"),
    ("contractions_upper", "IT'S THE DOG'S BALL AND THEY'RE HAPPY"),
    ("numbers", "2 dogs and 13 cats in 1999, pi=3.14159, 1,000,000 people"),
    ("punctuation", "wait... what?! (really) [yes] {no} <maybe> -- \"quoted\" 'single' #tag @user 50% $5 a/b c\\d"),
    ("repeated_punctuation", "!!!??? ... ,,, ;;; ::: --- ___ *** ~~~"),
    ("accents", "café crème brûlée à la mode, naïve résumé, Zürich, São Paulo"),
    ("decomposed_accents", "cafe\u0301 cre\u0300me"),  # NFC by ftfy -> same as precomposed
    ("german_sharp_s", "Straße GROẞE Fuß"),
    ("greek", "Ελληνικά γράμματα ΟΔΟΣ"),
    # Python's lower() turns a word-final capital sigma into final sigma (Swift's lowercased() does not)
    ("greek_sigma_contexts", "ΣΟΦΟΣ, Σ ΑΣ. ΑΣ'Β ΑΣ\u0301 ΑΣ\u0301Β"),
    # open_clip's pre-tokenizer is compiled with IGNORECASE: long s matches the s of "'s" and of the special token,
    # U+0345 (case variants: Greek iota) is matched by no branch and dropped
    ("ignorecase_long_s_ypogegrammeni", "it'\u017f <\u017ftart_of_text> a\u0345b !\u0345? \u017f"),
    ("cyrillic", "Привет, как дела? Москва"),
    ("turkish_dotted_i", "İstanbul ve IĞDIR"),
    ("cjk", "一只猫坐在垫子上"),
    ("japanese", "猫がマットの上に座っている。カタカナ"),
    ("korean", "고양이가 매트 위에 앉아 있다"),
    ("arabic", "قطة تجلس على السجادة"),
    ("hindi", "एक बिल्ली चटाई पर बैठी है"),
    ("thai", "แมวนั่งบนเสื่อ"),
    ("emoji", "a dog 🐶 and a cat 🐱 ❤️ 👍🏽 👨‍👩‍👧"),
    ("emoji_only", "🔥🔥🔥"),
    ("math_symbols", "x² + y² = z², ∑ ∞ ≠ ≤ ½ ¾ €100 £5 ¥300 ©®™"),
    ("html_entities", "tom &amp; jerry &lt;3 &quot;cheese&quot; &#39;quoted&#39; &eacute;t&eacute; &#x263A; &copy;"),
    ("html_double_escaped", "fish &amp;amp; chips &amp;lt;tag&amp;gt;"),
    ("html_without_semicolon", "salt &amp pepper &copy 2020 &notit; &notin;"),
    ("html_with_angle_bracket", "a <b> tag &eacute; and &amp;"),
    ("html_numeric_edge", "&#128; &#0; &#x110000; &#xD800; &#65; &#x41;"),
    ("curly_quotes", "\u201cquoted\u201d and \u2018single\u2019 it\u2019s"),
    ("ligatures", "\ufb01sh \ufb02ower of\ufb03ce"),
    ("fullwidth", "ＬＯＵＤ　ＮＯＩＳＥＳ １２３"),
    ("halfwidth_katakana", "ｶﾀｶﾅ"),
    ("control_chars", "bell\x07 tab\there null\x00 del\x7f bom\ufeff"),
    ("terminal_escape", "\x1b[31mred\x1b[0m text"),
    ("unicode_spaces", "a\u00a0b\u2003c\u3000d\u2028e\u0085f"),
    ("zero_width", "zero\u200bwidth\u200cnon\u200djoiner"),
    ("special_token_text", "<start_of_text> a photo <end_of_text>"),
    ("hf_special_token_text", "<|startoftext|> a photo <|endoftext|>"),
    ("long_word", "pneumonoultramicroscopicsilicovolcanoconiosis supercalifragilisticexpialidocious"),
    ("url", "see https://example.com/path?q=1&b=2#frag or mail@x.org"),
    ("over_long", " ".join(["a photo of a very small cat sitting on a big red mat"] * 10)),
    ("over_long_exact_76", " ".join(["dog"] * 75)),
    ("over_long_exact_77", " ".join(["dog"] * 76)),
    ("over_long_unicode", "🐶 " * 100),
    ("multilingual_german", "Zwei Hunde spielen im Schnee, während ein Mädchen mit grüner Jacke zuschaut."),
    ("multilingual_french", "Une femme âgée vend des légumes au marché, à côté d'un garçon qui mange une pêche."),
    ("multilingual_czech", "Žena v červených šatech jede na kole přes most, za ní běží malý pes."),
]


def cleanup_tables() -> dict:
    """The tables the Python clean-up (``ftfy.fix_text`` then ``html.unescape`` twice) is made of."""
    from ftfy import chardata

    from mobileclip.utils.shims.python_html import INVALID_CHARREFS, INVALID_CODEPOINTS

    width = {f"{k:04X}": v for k, v in sorted(chardata.WIDTH_MAP.items())}
    c1 = {}
    for i in range(0x80, 0xA0):
        c1[f"{i:04X}"] = bytes([i]).decode("sloppy-windows-1252")
    return {
        "about": "Tables of the CLIP text clean-up, written by python -m mobileclip.golden from Python's html module "
                 "and ftfy " + __import__("ftfy").__version__ + ". Keys are code points in hex where noted.",
        "python_html5": dict(sorted(html.entities.html5.items())),
        "python_invalid_charrefs": {f"{k:X}": v for k, v in sorted(INVALID_CHARREFS.items())},
        "python_invalid_codepoints": sorted(INVALID_CODEPOINTS),
        "ftfy_entities": dict(sorted(chardata.HTML_ENTITIES.items())),
        "ftfy_ligatures": {f"{k:04X}": v for k, v in sorted(chardata.LIGATURES.items())},
        "ftfy_width": width,
        "ftfy_c1": c1,
        "ftfy_control_chars": sorted(chardata.CONTROL_CHARS),
        "ftfy_single_quotes": chardata.SINGLE_QUOTE_RE.pattern,
        "ftfy_double_quotes": chardata.DOUBLE_QUOTE_RE.pattern,
        "python_whitespace": [i for i in range(0x110000) if chr(i).isspace()],
    }


def _images() -> dict[str, np.ndarray]:
    """Small deterministic test images (uint8 HxWxC)."""
    rng = np.random.default_rng(0)
    yy, xx = np.mgrid[0:64, 0:96]
    grad = np.stack([xx * 255 / 95, yy * 255 / 63, (xx + yy) * 255 / 158], -1)
    checker = (((np.indices((33, 33)).sum(0)) % 2) * 255).astype(np.uint8)
    rgba = rng.integers(0, 256, (45, 50, 4), dtype=np.uint8)
    return {
        "gradient_96x64": grad.round().astype(np.uint8),  # landscape downscale, centre crop in x
        "noise_40x100": rng.integers(0, 256, (100, 40, 3), dtype=np.uint8),  # portrait downscale
        "noise_20x14": rng.integers(0, 256, (14, 20, 3), dtype=np.uint8),  # upscale, non-square
        "checker_33x33": np.repeat(checker[..., None], 3, -1),  # slight downscale, hard edges (clipping)
        "stripes_31x77": np.repeat(((np.arange(77) % 4 < 2) * 200 + 30).astype(np.uint8)[:, None, None],
                                   31, 1).repeat(3, 2),  # upscale of a tall image
        "noise_32x37": rng.integers(0, 256, (37, 32, 3), dtype=np.uint8),  # no resize, crop offset round(2.5)=2
        "noise_rgba_50x45": rgba,  # alpha dropped by convert("RGB")
        "exact_32x32": rng.integers(0, 256, (32, 32, 3), dtype=np.uint8),  # identity
    }


EXIF_ORIENTATION = 6  # "rotate 90 degrees clockwise to display": what phone cameras write for portrait shots


def exif_photo() -> "Image.Image":
    """A 48x32 RGB JPEG-ready image of uniform 8x8 grey blocks (quality 100, no chroma subsampling: every
    block holds only a DC coefficient and Cb = Cr = 128, so every JPEG decoder returns the same bytes)."""
    from PIL import Image

    by, bx = np.mgrid[0:4, 0:6]
    levels = (16 + 9 * (bx * 4 + by) + 3 * (bx == 0) * by).astype(np.uint8)  # no two blocks alike
    grey = np.kron(levels, np.ones((8, 8), np.uint8))
    return Image.fromarray(np.repeat(grey[..., None], 3, -1), "RGB")


def _exif_case(folder: Path, transform) -> dict:
    """golden/images/exif_orientation_6.jpg: stored landscape, displayed portrait; the tensor applies the
    orientation (mobileclip.models.transform's policy, also the apps')."""
    from PIL import Image

    path = folder / "images" / f"exif_orientation_{EXIF_ORIENTATION}.jpg"
    exif = Image.Exif()
    exif[0x0112] = EXIF_ORIENTATION
    exif_photo().save(path, "JPEG", quality=100, subsampling=0, exif=exif.tobytes())
    with Image.open(path) as im:
        im.load()
        tensor = transform(im)
    w, h = exif_photo().size
    return {"name": path.stem, "file": f"images/{path.name}", "width": h, "height": w, "mode": "RGB",
            "exif_orientation": EXIF_ORIENTATION, "shape": list(tensor.shape),
            "tensor": [float(v) for v in tensor.flatten().tolist()]}


def _image_cases(tmp: Path, transform) -> list[dict]:
    """Write the golden PNGs (and their raw decoded RGB) into ``tmp/images``; each case with its tensor."""
    import torch
    from PIL import Image

    (tmp / "images").mkdir()
    img_cases = []
    for name, arr in _images().items():
        mode = "RGBA" if arr.shape[-1] == 4 else "RGB"
        path = tmp / "images" / f"{name}.png"
        Image.fromarray(arr, mode).save(path, optimize=True)
        with Image.open(path) as im:  # what the apps decode: the PNG file
            im.load()
            tensor = transform(im)
        assert tensor.dtype == torch.float32 and tensor.shape == (3, GOLDEN_IMAGE_SIZE, GOLDEN_IMAGE_SIZE)
        img_cases.append({"name": name, "file": f"images/{name}.png", "width": arr.shape[1],
                          "height": arr.shape[0], "mode": mode, "shape": list(tensor.shape),
                          "tensor": [float(v) for v in tensor.flatten().tolist()]})
    img_cases.append(_exif_case(tmp, transform))
    for case in img_cases:  # raw decoded RGB (as stored, before EXIF orientation): tests without a decoder
        with Image.open(tmp / case["file"]) as im:
            rgb = im.convert("RGB")
        case["rgb"] = case["file"].rsplit(".", 1)[0] + ".rgb"
        case["stored_size"] = list(rgb.size)
        (tmp / case["rgb"]).write_bytes(rgb.tobytes())
    return img_cases


def write_golden(out: Path | str = DEFAULT_OUT, app_copies: bool = True) -> Path:
    from mobileclip import get_tokenizer, image_transform

    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".golden-", dir=out.parent))
    try:
        tok = get_tokenizer()
        tok.export_vocab(tmp / "tokenizer")
        tables = cleanup_tables()
        (tmp / "tokenizer" / "text_cleanup.json").write_text(
            json.dumps(tables, ensure_ascii=True, separators=(",", ":"), allow_nan=False), encoding="utf-8")

        cases = []
        for name, text in CAPTIONS:
            ids = tok([text])[0].tolist()
            cases.append({"name": name, "text": text, "ids": ids,
                          "n_tokens": int(sum(1 for i in ids if i != tok.pad_token_id))})
        _dump(tmp / "captions.json", {
            "tokenizer": tok.settings(), "vocab": "tokenizer/vocab.json", "merges": "tokenizer/merges.txt",
            "cleanup": "tokenizer/text_cleanup.json", "cases": cases})

        preprocess = {"image_size": GOLDEN_IMAGE_SIZE, "resize": "shortest_side", "interpolation": "bicubic",
                      "crop": "center", "mean": list(CLIP_MEAN), "std": list(CLIP_STD), "channel_order": "RGB",
                      "layout": "NCHW", "scale": 1 / 255}
        transform = image_transform(preprocess)
        img_cases = _image_cases(tmp, transform)
        import PIL

        _dump(tmp / "preprocess.json", {"preprocess": preprocess, "tolerance": 1e-5, "pillow_version": PIL.__version__,
                                        "torchvision_version": import_torchvision().__version__,
                                        "note": "tensor = image_transform(preprocess)(PIL.Image.open(file)), "
                                                "CHW float32 flattened",
                                        "cases": img_cases})

        _dump(tmp / "ranking.json", _ranking_cases())
        _dump(tmp / "manifest.json", _sample_manifest(tmp))
        if out.exists():
            shutil.rmtree(out)
        tmp.chmod(0o755)
        tmp.replace(out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if app_copies:
        for dest in APP_COPIES:
            dest.parent.mkdir(parents=True, exist_ok=True)
            part = dest.with_suffix(".tmp")
            shutil.copyfile(out / "tokenizer" / "text_cleanup.json", part)
            part.replace(dest)
    return out


def _dump(path: Path, obj) -> None:
    """Readable but compact JSON: top-level keys one per line, each list item of ``cases`` on one line."""
    lines = []
    for key, value in obj.items():
        if key == "cases":
            items = ",\n  ".join(json.dumps(c, ensure_ascii=False, separators=(",", ":"), allow_nan=False) for c in value)
            lines.append(f' "cases": [\n  {items}\n ]')
        else:
            lines.append(f" {json.dumps(key)}: {json.dumps(value, ensure_ascii=False, allow_nan=False)}")
    path.write_text("{\n" + ",\n".join(lines) + "\n}\n", encoding="utf-8")


def rank(query: np.ndarray, gallery: np.ndarray, k: int, logit_scale: float = 100.0) -> dict:
    """Reference cosine ranking: normalise both, scores = cos, order by (-score, index), softmax of scale*cos."""
    q = query.astype(np.float64)
    g = gallery.astype(np.float64)
    q = q / np.linalg.norm(q)
    g = g / np.linalg.norm(g, axis=1, keepdims=True)
    scores = g @ q
    order = sorted(range(len(scores)), key=lambda i: (-scores[i], i))[:k]
    logits = logit_scale * scores
    probs = np.exp(logits - logits.max())
    probs /= probs.sum()
    return {"top_k": order, "scores": [float(scores[i]) for i in order],
            "probabilities": [float(probs[i]) for i in order]}


def _ranking_cases() -> dict:
    rng = np.random.default_rng(1)
    cases = []
    for name, n, d, k in [("small", 5, 8, 3), ("labels_10", 10, 16, 5), ("gallery_50", 50, 32, 10)]:
        g = rng.normal(size=(n, d)).astype(np.float32)
        q = rng.normal(size=d).astype(np.float32)
        cases.append({"name": name, "query": q.tolist(), "gallery": g.tolist(), "k": k, "logit_scale": 100.0,
                      **rank(q, g, k)})
    # ties: identical gallery rows (scaled copies) must keep the lower index first
    g = np.array([[1, 0, 0], [0, 1, 0], [2, 0, 0], [1, 1, 0]], np.float32)
    q = np.array([1, 0.2, 0], np.float32)
    cases.append({"name": "ties", "query": q.tolist(), "gallery": g.tolist(), "k": 4, "logit_scale": 100.0,
                  **rank(q, g, 4)})
    return {"note": "cosine = <q/|q|, g/|g|> in float64; order by (-cosine, index); probabilities = "
                    "softmax(logit_scale * cosine over the whole gallery), listed for the top-k",
            "tolerance": 1e-5, "cases": cases}


def _sample_manifest(folder: Path) -> dict:
    """A manifest in the agreed export format (built by ``export.manifest``), pointing at the golden tokenizer."""
    from export.manifest import MANIFEST_FORMAT, MANIFEST_VERSION, preprocess_entry, tokenizer_entry

    from mobileclip import get_tokenizer

    vocab = folder / "tokenizer" / "vocab.json"
    models = []
    for backend, ext in [("executorch", "pte"), ("coreml", "mlpackage"), ("tflite", "tflite")]:
        for tower in ("image", "text"):
            inp = ({"name": "image", "shape": [1, 3, 224, 224], "dtype": "float32"} if tower == "image"
                   else {"name": "input_ids", "shape": [1, 77], "dtype": "int32"})
            models.append({
                "backend": backend, "tower": tower, "quantization": "int8", "recipe": "sample",
                "file": f"{backend}/{tower}_int8.{ext}", "size_bytes": 1, "sha256": "0" * 64,
                "inputs": [inp], "outputs": [{"name": "embedding", "shape": [1, 512], "dtype": "float32"}],
                # placeholders: a sample manifest describes no real model and claims no verification
                "verification": {"method": "sample manifest: no model was verified", "cosine_min": 0.0,
                                 "cosine_mean": 0.0, "max_abs_err": 0.0, "zero_shot_agreement": 0.0,
                                 "passed": False}})
    return {
        "format": MANIFEST_FORMAT, "format_version": MANIFEST_VERSION, "created_by": "mobileclip-kd 0.1.0 (golden sample)",
        "source_checkpoint": {"file": "student.pt", "sha256": "0" * 64, "model_name": "mnv3l-lsra-512"},
        "embed_dim": 512, "logit_scale": 100.0,
        "preprocess": preprocess_entry({"image_size": 224, "resize_mode": "shortest", "interpolation": "bicubic",
                                        "mean": CLIP_MEAN, "std": CLIP_STD}),
        "tokenizer": {**tokenizer_entry(get_tokenizer(77)), "vocab_sha256": sha256_of(vocab)},
        "models": models,
    }


def parse_args(argv=None):
    p = argparse.ArgumentParser(prog="python -m mobileclip.golden", description=__doc__.split("\n\n")[0])
    p.add_argument("--out", default=str(DEFAULT_OUT),
                   help="output folder, replaced as a whole (default: golden/ at the repository root)")
    p.add_argument("--no-app-copies", action="store_true",
                   help="do not copy tokenizer/text_cleanup.json into the Java core and Swift package resources")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    with cli_errors("python -m mobileclip.golden"):
        out = Path(args.out)
        if out.exists() and not out.is_dir():
            raise MobileClipError(f"--out {out} exists and is not a folder")
        path = write_golden(out, app_copies=not args.no_app_copies)
        sizes = sorted(((p.stat().st_size, p.relative_to(path)) for p in path.rglob("*") if p.is_file()),
                       reverse=True)
        print(f"wrote {len(sizes)} files to {path} (largest: {sizes[0][1]}, {sizes[0][0] / 1e6:.2f} MB)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

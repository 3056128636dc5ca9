"""android_demo checks that run without the Android SDK.

- The plain-Java core module is compiled with javac and its JUnit 4 tests run against the shared golden fixtures
  AND against Python's ids for every Flickr8k-subset caption (written here to a git-ignored cache file).
  junit4 comes from Debian (installed with apt-get when missing and possible, else the test skips with the reason).
- The committed golden fixtures are what ``python -m mobileclip.golden`` produces now.
- ``aapt2`` (Debian's ``aapt`` package) compiles and links the app's resources and manifest against Debian's
  framework resources (``android-framework-res``), or an SDK's ``android.jar`` when ANDROID_HOME is set.
- The app's Java sources (which need android.jar + the ExecuTorch/LiteRT AARs to compile) are syntax-checked
  with javac's parser and type-checked against hand-written stubs of the APIs they use.
"""
from __future__ import annotations

import csv
import json
import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
ANDROID = REPO / "android_demo"
CORE = ANDROID / "core"
APP = ANDROID / "app"
GOLDEN = REPO / "golden"
CACHE = REPO / ".cache" / "android-core"
JUNIT_JARS = [Path("/usr/share/java/junit4.jar"), Path("/usr/share/java/hamcrest-core.jar")]
FRAMEWORK_RES = Path("/usr/share/android-framework-res/framework-res.apk")
JUNIT_CLASSES = ["TokenizerGoldenTest", "PreprocessGoldenTest", "PillowResizeRandomTest", "RankingGoldenTest",
                 "ManifestTest", "UtilTest", "ExifOrientationTest",
                 # issue 23: encoder session (close during a run, two screens), photo index (cancel, incremental,
                 # search racing a smaller re-index, model change, corrupt file), 10,000 photos, int8 search
                 # agreement, panorama decode bounds, kill during save (a child JVM killed mid-write)
                 "EncoderSessionTest", "PhotoIndexTest", "IndexScaleTest"]
N_RESIZE_CASES = 60

_apt_tried: dict[str, str | None] = {}


def apt_install(*packages: str) -> str | None:
    """apt-get install ``packages`` (once per session). Returns None on success, else why it could not."""
    key = " ".join(packages)
    if key in _apt_tried:
        return _apt_tried[key]
    why = None
    if not shutil.which("apt-get"):
        why = "apt-get not available"
    elif os.geteuid() != 0:
        why = "not root: cannot apt-get install " + key
    else:
        env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
        cmd = ["apt-get", "install", "-y", "--no-install-recommends", *packages]
        r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:  # a fresh container may need the package lists first
            subprocess.run(["apt-get", "update"], capture_output=True, text=True, env=env, timeout=600)
            r = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
        if r.returncode != 0:
            why = f"apt-get install {key} failed: " + (r.stderr.strip().splitlines() or ["?"])[-1]
    _apt_tried[key] = why
    return why


def _java_tools():
    for tool in ("javac", "java"):
        if not shutil.which(tool):
            pytest.skip(f"{tool} not found (install a JDK 17, e.g. Debian's openjdk-17-jdk-headless)")


@pytest.fixture(scope="module")
def junit_classpath() -> str:
    _java_tools()
    if not all(p.is_file() for p in JUNIT_JARS):
        why = apt_install("junit4")
        if why or not all(p.is_file() for p in JUNIT_JARS):
            pytest.skip(f"JUnit 4 jars missing ({', '.join(map(str, JUNIT_JARS))}) and {why or 'junit4 gave none'}")
    return os.pathsep.join(map(str, JUNIT_JARS))


@pytest.fixture(scope="module")
def core_classes(junit_classpath, tmp_path_factory) -> Path:
    """javac the core module (main + tests) into a fresh folder, resources copied alongside."""
    out = tmp_path_factory.mktemp("core-classes")
    sources = sorted(str(p) for p in (CORE / "src").rglob("*.java"))
    r = subprocess.run(["javac", "-encoding", "UTF-8", "-Xlint:unchecked", "-d", str(out), "-cp", junit_classpath,
                        *sources], capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "javac failed:\n" + r.stdout + r.stderr
    shutil.copytree(CORE / "src" / "main" / "resources", out, dirs_exist_ok=True)
    return out


def _flickr_ids_file() -> tuple[Path, int] | None:
    """Python's ids for every Flickr8k-subset caption, JSON lines in the git-ignored cache (rebuilt when stale)."""
    from tests.support.data import SHARED_DATA, shared_member

    if not (SHARED_DATA / "flickr8k_subset.tar.gz").is_file():
        return None
    csv_path = shared_member("flickr8k_subset.tar.gz", "flickr8k_subset/captions.csv")
    with open(csv_path, newline="", encoding="utf-8") as f:
        captions = [row["caption"] for row in csv.DictReader(f)]
    CACHE.mkdir(parents=True, exist_ok=True)
    out = CACHE / "flickr_ids.jsonl"
    stamp = f"{csv_path.stat().st_size}-{len(captions)}"
    stamp_file = CACHE / "flickr_ids.stamp"
    if out.is_file() and stamp_file.is_file() and stamp_file.read_text() == stamp:
        return out, len(captions)
    from mobileclip import get_tokenizer

    ids = get_tokenizer()(captions).tolist()
    tmp = out.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as f:
        for text, row in zip(captions, ids):
            f.write(json.dumps({"text": text, "ids": row}, ensure_ascii=False) + "\n")
    tmp.replace(out)
    stamp_file.write_text(stamp)
    return out, len(captions)


def _resize_cases(folder: Path, n: int = N_RESIZE_CASES, seed: int = 0) -> Path:
    """Random images and target sizes resized by the installed Pillow (BICUBIC), for PillowResizeRandomTest."""
    import struct

    import numpy as np
    from PIL import Image

    rng = np.random.default_rng(seed)
    path = folder / "resize_cases.bin"
    with open(path, "wb") as f:
        for i in range(n):
            w, h = (int(v) for v in rng.integers(2, 160, 2))
            if i % 3 == 0:  # model-like: shortest side to 32/64/224 (down- and up-scaling)
                s = int(rng.choice([32, 64, 224]))
                ow, oh = (s, max(1, int(s * h / w))) if w <= h else (max(1, int(s * w / h)), s)
            else:
                ow, oh = (int(v) for v in rng.integers(1, 200, 2))
            arr = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            out = np.asarray(Image.fromarray(arr).resize((ow, oh), Image.Resampling.BICUBIC))
            f.write(struct.pack(">4i", w, h, ow, oh) + arr.tobytes() + out.tobytes())
    return path


def _run_junit(classes: Path, cp: str, golden: Path, tests: list[str], extra: list[str] = ()) -> subprocess.CompletedProcess:
    cmd = ["java", "-Dfile.encoding=UTF-8", f"-Dgolden.dir={golden}", *extra, "-cp", f"{classes}{os.pathsep}{cp}",
           "org.junit.runner.JUnitCore", *[f"com.mobileclipkd.core.{t}" for t in tests]]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=300)


def test_java_core_junit(core_classes, junit_classpath, tmp_path):
    """All JUnit tests of the core module: golden captions, Flickr captions, preprocessing, ranking, manifest."""
    import PIL

    flickr = _flickr_ids_file()
    extra = [f"-Dflickr.ids={flickr[0]}", f"-Dflickr.count={flickr[1]}"] if flickr else []
    extra += [f"-Dresize.cases={_resize_cases(tmp_path)}", f"-Dresize.count={N_RESIZE_CASES}",
              f"-Dpillow.version={PIL.__version__}"]
    r = _run_junit(core_classes, junit_classpath, GOLDEN, JUNIT_CLASSES, extra)
    print(r.stdout[-6000:])
    assert r.returncode == 0, "Java tests failed:\n" + r.stdout[-20000:] + r.stderr[-5000:]
    assert "OK (" in r.stdout
    # every golden image was compared (the test prints one line per image) and matched
    n_images = len(json.loads((GOLDEN / "preprocess.json").read_text())["cases"])
    assert r.stdout.count("PreprocessGoldenTest: ") == n_images
    assert f"{N_RESIZE_CASES} random resizes identical to Pillow" in r.stdout
    assert "int8 top-10 agreement with fp32 over 10000 photos" in r.stdout
    assert "kills hit a save in progress" in r.stdout
    if flickr:
        assert f"{flickr[1]} Flickr8k captions identical to Python" in r.stdout
    else:
        pytest.skip("Java tests passed, but the Flickr8k subset (../shared/data) was not available for the "
                    "tokenizer comparison on its captions")


def test_java_tests_can_fail(core_classes, junit_classpath, tmp_path):
    """Negative control: a golden folder with one wrong id and one wrong pixel makes the Java tests fail."""
    golden = tmp_path / "golden"
    shutil.copytree(GOLDEN, golden)
    caps = json.loads((golden / "captions.json").read_text(encoding="utf-8"))
    caps["cases"][0]["ids"][1] += 1
    (golden / "captions.json").write_text(json.dumps(caps, ensure_ascii=False), encoding="utf-8")
    pre = json.loads((golden / "preprocess.json").read_text())
    pre["cases"][1]["tensor"][5] += 2e-5
    (golden / "preprocess.json").write_text(json.dumps(pre))
    r = _run_junit(core_classes, junit_classpath, golden, ["TokenizerGoldenTest", "PreprocessGoldenTest"])
    assert r.returncode != 0
    assert "Failures: 2" in r.stdout, r.stdout[-3000:]
    assert caps["cases"][0]["name"] in r.stdout and "max abs err" in r.stdout


def test_golden_fixtures_are_current(tmp_path):
    """The committed golden/ is what `python -m mobileclip.golden` writes with this environment."""
    import PIL

    from export import golden as golden_mod

    committed_pre = json.loads((GOLDEN / "preprocess.json").read_text())
    out = golden_mod.write_golden(tmp_path / "golden", app_copies=False)
    for name in ("captions.json", "ranking.json", "manifest.json", "tokenizer/vocab.json", "tokenizer/merges.txt",
                 "tokenizer/text_cleanup.json"):
        assert (out / name).read_bytes() == (GOLDEN / name).read_bytes(), f"golden/{name} is stale: run python -m mobileclip.golden"
    for png in (out / "images").iterdir():
        assert (GOLDEN / "images" / png.name).is_file(), f"golden/images/{png.name} missing"
    if committed_pre["pillow_version"] != PIL.__version__:
        pytest.skip(f"preprocess.json made with Pillow {committed_pre['pillow_version']}, this is {PIL.__version__}")
    assert (out / "preprocess.json").read_bytes() == (GOLDEN / "preprocess.json").read_bytes()
    for copy in golden_mod.APP_COPIES:
        assert copy.read_bytes() == (GOLDEN / "tokenizer" / "text_cleanup.json").read_bytes(), f"{copy} is stale"


def test_golden_sizes_and_manifest_schema():
    for p in GOLDEN.rglob("*"):
        if p.is_file():
            assert p.stat().st_size < 2_000_000, f"{p} is over 2 MB"
    from export.manifest import MANIFEST_VERSION, read_manifest, validate_manifest

    manifest = read_manifest(GOLDEN)  # checks the format name
    assert manifest["format_version"] == MANIFEST_VERSION
    assert (GOLDEN / manifest["tokenizer"]["vocab"]).is_file() and (GOLDEN / manifest["tokenizer"]["merges"]).is_file()
    pytest.importorskip("jsonschema")
    validate_manifest(manifest)


def test_android_app_java_syntax():
    """The app's Java sources parse (javac parser only: android.jar and the runtime AARs are not here)."""
    _java_tools()
    files = sorted(str(p) for p in (APP / "src").rglob("*.java"))
    assert len(files) >= 8
    r = subprocess.run(["java", str(ANDROID / "tools" / "ParseCheck.java"), *files], capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0, r.stdout + r.stderr
    assert "0 syntax errors" in r.stdout


def _android_jar() -> Path | None:
    for env in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        sdk = os.environ.get(env)
        if sdk:
            jars = sorted(Path(sdk).glob("platforms/android-*/android.jar"),
                          key=lambda p: int(p.parent.name.split("-")[-1]) if p.parent.name.split("-")[-1].isdigit() else 0)
            if jars:
                return jars[-1]
    return FRAMEWORK_RES if FRAMEWORK_RES.is_file() else None


def _aapt2() -> str | None:
    for env in ("ANDROID_HOME", "ANDROID_SDK_ROOT"):
        sdk = os.environ.get(env)
        if sdk:
            tools = sorted(Path(sdk).glob("build-tools/*/aapt2"))
            if tools:
                return str(tools[-1])
    return shutil.which("aapt2")


@pytest.fixture(scope="module")
def aapt2_linked(tmp_path_factory) -> tuple[Path, Path, str]:
    """aapt2 compile + link of app/src/main/res and AndroidManifest.xml against the framework resources.
    Returns (generated R.java folder, linked resources APK, package name)."""
    if _aapt2() is None or _android_jar() is None:
        why = apt_install("aapt", "android-framework-res")
        if _aapt2() is None or _android_jar() is None:
            pytest.skip(f"aapt2 / android framework resources unavailable ({why or 'packages gave none'}); "
                        "set ANDROID_HOME to an SDK with build-tools and a platform")
    aapt2, framework = _aapt2(), _android_jar()
    tmp = tmp_path_factory.mktemp("aapt2")
    compiled = tmp / "compiled.zip"
    r = subprocess.run([aapt2, "compile", "--dir", str(APP / "src" / "main" / "res"), "-o", str(compiled)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "aapt2 compile failed:\n" + r.stdout + r.stderr
    # AGP 8 takes the package from `namespace` in build.gradle and writes it into the merged manifest; do the same
    gradle = (APP / "build.gradle").read_text()
    namespace = gradle.split("namespace '")[1].split("'")[0]
    import tomllib

    versions = tomllib.loads((ANDROID / "gradle" / "libs.versions.toml").read_text())["versions"]
    min_sdk = versions["minSdk"]
    manifest = (APP / "src" / "main" / "AndroidManifest.xml").read_text()
    assert "package=" not in manifest, "AGP 8 rejects package= in the source manifest: use namespace"
    merged = tmp / "AndroidManifest.xml"
    merged.write_text(manifest.replace("<manifest ", f'<manifest package="{namespace}" ', 1)
                      .replace("${applicationId}", namespace))  # AGP's manifest placeholder
    apk = tmp / "resources.apk"
    # Debian's aapt2/framework are API 29: <queries> (API 30) is then only a warning (test_android_manifest checks it)
    old_api = ["--warn-manifest-validation"] if framework == FRAMEWORK_RES else []
    r = subprocess.run([aapt2, "link", *old_api, "-I", str(framework), "--manifest", str(merged), "--min-sdk-version", min_sdk,
                        "--target-sdk-version", "29", "--java", str(tmp / "gen"), "-o", str(apk), str(compiled)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, "aapt2 link failed:\n" + r.stdout + r.stderr
    return tmp / "gen", apk, namespace


def test_android_resources_aapt2(aapt2_linked):
    """Resources and manifest link; every R.* the app's Java uses is defined."""
    import re

    gen, apk, namespace = aapt2_linked
    r_java = (gen / Path(*namespace.split(".")) / "R.java").read_text()
    used = set()
    for src in (APP / "src").rglob("*.java"):
        used |= set(re.findall(r"(?<![\w.])R\.(id|layout|string|drawable|color|dimen)\.(\w+)", src.read_text()))
    assert len(used) > 20, "expected the app to use its resources"
    for kind, name in sorted(used):
        block = r_java.split(f"public static final class {kind} ")[1].split("}")[0]
        assert re.search(rf"\b{name}\s*=", block), f"R.{kind}.{name} used in Java but not defined in resources"
    with zipfile.ZipFile(apk) as z:
        assert "AndroidManifest.xml" in z.namelist() and "resources.arsc" in z.namelist()


def test_android_app_typechecks_against_stubs(aapt2_linked, junit_classpath, tmp_path):
    """javac of the app (main + androidTest) + core + aapt2's R.java against hand-written stubs of the Android,
    AndroidX, ExecuTorch and LiteRT classes it uses (android_demo/tools/stubs) and Debian's JUnit 4. Catches type
    errors in our code; the stubs stand in for the real android.jar/AARs, which only the Gradle build (README)
    uses."""
    _java_tools()
    gen, _, _ = aapt2_linked
    sources = [*(ANDROID / "tools" / "stubs").rglob("*.java"), *gen.rglob("*.java"), *(APP / "src").rglob("*.java"),
               *(CORE / "src" / "main").rglob("*.java")]
    r = subprocess.run(["javac", "-encoding", "UTF-8", "-cp", junit_classpath, "-d", str(tmp_path), *map(str, sources)],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, "the app does not type-check:\n" + r.stdout + r.stderr
    assert (tmp_path / "com" / "mobileclipkd" / "demo" / "SearchActivity.class").is_file()
    assert (tmp_path / "com" / "mobileclipkd" / "demo" / "DeviceGoldenTest.class").is_file()


if __name__ == "__main__":
    sys.exit(pytest.main([__file__, "-v"]))

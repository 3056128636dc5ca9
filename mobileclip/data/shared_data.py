"""The ``../shared/data`` archives: :func:`extract_shared` unpacks one once into the cache
(``python -m mobileclip.data extract ARCHIVE``)."""
from __future__ import annotations

import os
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..utils.errors import MobileClipError

REPO = Path(__file__).resolve().parents[2]


def shared_data_dir(shared_dir=None) -> Path:
    """``shared_dir``, else ``$MOBILECLIP_SHARED_DATA``, else ``<repo>/../shared/data``."""
    if shared_dir is not None:
        return Path(shared_dir)
    env = os.environ.get("MOBILECLIP_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def extract_shared(archive: str, cache_dir=".cache/data", shared_dir=None) -> Path:
    """Extract ``<shared_dir>/<archive>`` once into ``cache_dir`` (atomically: temp folder + rename).

    Returns the archive's top folder inside the cache (e.g. ``.cache/data/cifar10``). A second call
    returns the existing folder without opening the archive (a marker file records the extraction)."""
    from tqdm import tqdm

    cache_dir = Path(cache_dir)
    marker = cache_dir / f".{Path(archive).name}.extracted"  # holds the top folder's name
    if marker.is_file():
        dest = cache_dir / marker.read_text().strip()
        if dest.is_dir():
            return dest
    src = Path(archive)
    if not src.is_file():
        src = shared_data_dir(shared_dir) / archive
    if not src.is_file():
        raise MobileClipError(f"data archive not found: {src} (the shared data folder sits beside the repository; "
                              f"set MOBILECLIP_SHARED_DATA to point elsewhere)")
    try:
        with tarfile.open(src) as tar:
            members = tar.getmembers()
    except (tarfile.TarError, OSError, EOFError) as e:
        raise MobileClipError(f"{src} is not a readable tar archive ({type(e).__name__}: {e})") from None
    tops = {Path(m.name).parts[0] for m in members if m.name not in ("", ".")}
    if len(tops) != 1:
        raise MobileClipError(f"{src} must hold exactly one top-level folder, found {sorted(tops)[:5]}")
    top = tops.pop()
    dest = cache_dir / top
    if dest.is_dir():
        marker.write_text(top)
        return dest
    cache_dir.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=cache_dir, prefix=f".{top}.", suffix=".tmp"))
    try:
        with tarfile.open(src) as tar:
            for m in tqdm(members, desc=f"extract {src.name}", unit="file", mininterval=1.0):
                tar.extract(m, tmp, filter="data")
        os.replace(tmp / top, dest)
    except FileExistsError:  # another process won the race
        pass
    except OSError as e:
        if not dest.is_dir():
            raise MobileClipError(f"cannot extract {src} into {cache_dir}: {e}") from None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    marker.write_text(top)
    return dest

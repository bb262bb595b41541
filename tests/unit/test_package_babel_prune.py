"""`make package` keeps Babel's locale data for the shop's languages only (~10 MB zipped for all of CLDR)."""

from __future__ import annotations

import zipfile
from pathlib import Path

from local.package import prune_babel_locales


def test_the_zip_keeps_root_and_the_kept_languages_in_every_region_and_everything_else(tmp_path: Path) -> None:
    # GIVEN a deployment zip with Babel's locale data and other files
    path = tmp_path / "deployment.zip"
    names = ["app.py", "babel/__init__.py", "babel/global.dat"] + [
        f"babel/locale-data/{stem}.dat" for stem in ("root", "en", "en_GB", "ja", "ja_JP", "sv", "sv_FI", "zh_Hant_TW")
    ]
    with zipfile.ZipFile(path, "w") as archive:
        for name in names:
            archive.writestr(name, b"x")
    path.chmod(0o644)
    # WHEN pruned to en, ja and zh
    dropped = prune_babel_locales(path, ("en", "ja", "zh"))
    # THEN only the other languages' data is gone, and the zip keeps its mode
    assert dropped == 2
    with zipfile.ZipFile(path) as archive:
        assert sorted(archive.namelist()) == sorted(n for n in names if "/sv" not in n)
    assert path.stat().st_mode & 0o777 == 0o644

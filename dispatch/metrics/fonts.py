"""A font with Chinese glyphs for the report's charts, found on the system.

matplotlib's own fonts (DejaVu) have no CJK glyphs: Chinese labels would print as empty
boxes. Its font cache may predate a font installed later (Debian: fonts-noto-cjk), so
fontconfig (`fc-list :lang=zh`) is asked too and what it lists is added.
"""

from __future__ import annotations

import functools
import logging
import shutil
import subprocess

from matplotlib import font_manager

log = logging.getLogger(__name__)

# Simplified-Chinese faces first, then other CJK faces that cover the same characters.
PREFERRED: tuple[str, ...] = (
    "Noto Sans CJK SC",
    "Noto Sans SC",
    "Source Han Sans SC",
    "Source Han Sans CN",
    "WenQuanYi Zen Hei",
    "WenQuanYi Micro Hei",
    "Microsoft YaHei",
    "PingFang SC",
    "SimHei",
    "Noto Sans CJK JP",
    "Noto Sans CJK TC",
    "Droid Sans Fallback",
)

INSTALL_HINT = "Debian/Ubuntu: apt-get install fonts-noto-cjk"


def _known() -> set[str]:
    return {f.name for f in font_manager.fontManager.ttflist}


def _fontconfig_files() -> list[str]:
    """Files of the fonts fontconfig says cover Chinese (none if it is not installed)."""
    fc_list = shutil.which("fc-list")
    if fc_list is None:
        return []
    try:
        out = subprocess.run([fc_list, ":lang=zh", "file"], capture_output=True, text=True,
                             timeout=10, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return []
    return sorted({line.strip().rstrip(":") for line in out.splitlines() if line.strip()})


@functools.cache
def find_cjk_font() -> str | None:
    """The family name of an installed font with Chinese glyphs, or None."""
    preferred = [name for name in PREFERRED if name in _known()]
    if not preferred:
        files = _fontconfig_files()
        for path in files:
            try:
                font_manager.fontManager.addfont(path)
            except (OSError, RuntimeError, ValueError) as exc:
                log.debug("font %s not usable: %r", path, exc)
        known = _known()
        # a face fontconfig vouches for, if none of the usual ones is there
        listed = sorted({f.name for f in font_manager.fontManager.ttflist if f.fname in files})
        preferred = [name for name in PREFERRED if name in known] + listed
    if preferred:
        return preferred[0]
    log.warning("no font with Chinese glyphs found; the charts are labelled in English "
                "(%s)", INSTALL_HINT)
    return None

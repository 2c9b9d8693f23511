"""Regenerate static/fonts/wqy-zenhei-gb2312.ttf: the CJK font the PDF reports embed.

The PDF writers (reports/render.py) must show Chinese on a machine with no CJK font
installed, so they embed a font shipped with the project. WenQuanYi Zen Hei (GPL-2 with
the font embedding exception, see static/fonts/LICENSE-wqy-zenhei.txt) is cut down to
what business documents use — ASCII, Latin-1, general punctuation, the GB 2312 set
(6,763 hanzi + symbols and full-width forms) and the GBK hanzi most often seen in
company and person names that GB 2312 lacks — without hinting, bitmaps, vertical
metrics or layout tables (fpdf2 does not use them). fpdf2 subsets it again per PDF, so
a statement carries only the glyphs it prints.

Run (needs Debian's fonts-wqy-zenhei and fontTools, which fpdf2 depends on):

    apt-get install fonts-wqy-zenhei
    .venv/bin/python tools/make_cjk_font.py [--source /usr/share/fonts/truetype/wqy/wqy-zenhei.ttc]
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path

from fontTools import subset
from fontTools.ttLib import TTCollection

ROOT = Path(__file__).resolve().parents[1]
SOURCE = Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")
LICENCE_SOURCE = Path("/usr/share/doc/fonts-wqy-zenhei/copyright")
GPL2 = Path("/usr/share/common-licenses/GPL-2")
TARGET = ROOT / "static" / "fonts" / "wqy-zenhei-gb2312.ttf"
LICENCE = ROOT / "static" / "fonts" / "LICENSE-wqy-zenhei.txt"

#: GBK hanzi outside GB 2312 that are common in names (people and companies); a name
#: with a character missing from the font prints as an empty box, so keep this generous.
NAME_EXTRAS = (
    "喆堃淼犇琍珺玥昇旻昱晞暐曌燊炜煜熠焱璟瑄瑾璇琪珏瑜瑶琰玮琨瑛璐甯祎祐禛"
    "铖锃镕钰鑫垚峣嵘崧嵩岚赟贇锟昶晟昀晖晔暄曦楠桢梓榕槿樾檀彧骞骐骏驰騫"
    "婕婧姝娅娴嫣媛嬿妤妍姣婵懿馨韫蕤蓥蘅菁萱茜芮苡荟莘蔚薇芃羿翀翊翎翔"
    "淇淏泓洺浚浠涵渊滢潇澜濛灏炅炘烨焘煊熙燚燿鎏铂铎锦镇闿阚邝邱郦鄢黉"
)


LICENCE_HEADER = """static/fonts/wqy-zenhei-gb2312.ttf is a subset of WenQuanYi Zen Hei 0.9 (font 0 of
wqy-zenhei.ttc, Debian package fonts-wqy-zenhei), made by tools/make_cjk_font.py:
ASCII, Latin-1, punctuation, the GB 2312 set and some name characters; hinting,
bitmaps and layout tables removed. The licence of the font (GPL-2 with the font
embedding exception: PDFs that embed it are not covered by the GPL) follows, as
Debian ships it (/usr/share/doc/fonts-wqy-zenhei/copyright).

"""


def codepoints() -> set[int]:
    """ASCII, Latin-1, general punctuation, currency, GB 2312 and the name extras."""
    points = set(range(0x20, 0x7F)) | set(range(0xA0, 0x100)) | set(range(0x2000, 0x2070))
    points |= set(range(0x20A0, 0x20C0)) | set(range(0x3000, 0x3040)) | set(range(0xFF01, 0xFF5F))
    points |= {
        0x2103,
        0x2116,
        0x2160,
        0x2161,
        0x2162,
        0x2163,
        0x2192,
        0x2190,
        0x2191,
        0x2193,
        0x221E,
        0x2264,
        0x2265,
        0x2212,
        0x00D7,
        0x00F7,
        0x2030,
        0x25A0,
        0x25A1,
        0x25CF,
        0x25CB,
        0x2605,
        0x2606,
        0x2713,
        0xFFE5,
    }
    for high in range(0xA1, 0xF8):
        for low in range(0xA1, 0xFF):
            try:
                points.add(ord(bytes([high, low]).decode("gb2312")))
            except UnicodeDecodeError:
                pass
    points |= {ord(ch) for ch in NAME_EXTRAS}
    return points


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=SOURCE)
    parser.add_argument("--target", type=Path, default=TARGET)
    args = parser.parse_args()

    logging.getLogger("fontTools.subset").setLevel(logging.ERROR)  # "BDF not subset": dropped anyway
    font = TTCollection(str(args.source)).fonts[0]  # 0: WenQuanYi Zen Hei (outlines)
    options = subset.Options()
    options.hinting = False
    options.layout_features = []
    options.drop_tables += [
        "BDF ",
        "FFTM",
        "EBDT",
        "EBLC",
        "EBSC",
        "GDEF",
        "GPOS",
        "GSUB",
        "vhea",
        "vmtx",
        "gasp",
        "cvt ",
    ]
    options.name_IDs = [0, 1, 2, 3, 4, 5, 6, 13]  # keep copyright, names and the licence
    options.notdef_outline = True
    subsetter = subset.Subsetter(options)
    wanted = codepoints() & set(font.getBestCmap())
    subsetter.populate(unicodes=sorted(wanted))
    subsetter.subset(font)
    args.target.parent.mkdir(parents=True, exist_ok=True)
    font.recalcTimestamp = False  # the same input gives the same bytes
    font.save(str(args.target))
    if LICENCE_SOURCE.exists():
        text = LICENCE_HEADER + LICENCE_SOURCE.read_text(encoding="utf-8")
        if GPL2.exists():
            text += (
                "\n\n"
                + "=" * 72
                + "\nThe GNU General Public License, version 2 ("
                + str(GPL2)
                + "):\n\n"
                + GPL2.read_text(encoding="utf-8")
            )
        LICENCE.write_text(text, encoding="utf-8")
    print(f"{args.target}: {len(wanted)} characters, {args.target.stat().st_size / 1e6:.1f} MB")


if __name__ == "__main__":
    main()

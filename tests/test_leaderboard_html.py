"""`ptb leaderboard --out DIR` on a full results tree: leaderboard.csv, and a self-contained
leaderboard.html that headless Chromium renders with its charts (screenshot checked)."""

import shutil
import subprocess

from PIL import Image

from conftest import ptb
from ptb.report import charts
from results_tree import make_tree

CHROMIUM_FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-component-update", "--disable-sync", "--no-first-run"]
# Colours only the charts draw (the tables are black, grey and white): agent bars, baseline
# bars, clean and flagged integrity bars.
CHART_COLOURS = {"agent bars": (0x4C, 0x78, 0xA8), "baseline bars": (0xBA, 0xB0, 0xAC),
                 "clean": (0x54, 0xA2, 0x4B), "flagged": (0xE4, 0x57, 0x56)}


def chromium(tmp_path, *args: str) -> subprocess.CompletedProcess:
    exe = shutil.which("chromium")
    assert exe, "chromium is not installed: bash .devcontainer/setup.sh --test"
    profile = tmp_path / f"profile-{len(list(tmp_path.glob('profile-*')))}"  # a fresh profile each time
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args],
                          capture_output=True, text=True, timeout=120)


def pixels_near(img: Image.Image, rgb: tuple[int, int, int], tol: int = 6) -> int:
    return sum(n for n, px in img.getcolors(maxcolors=1 << 24) if all(abs(a - b) <= tol for a, b in zip(px, rgb)))


def test_leaderboard_html_renders_its_charts_in_chromium(tmp_path):
    tree = make_tree(tmp_path / "results")
    out = tmp_path / "board"
    res = ptb("leaderboard", tree, "--out", out, "--reference")
    assert res.returncode == 0, res.stderr
    assert "claude-code" in res.stdout and (out / "leaderboard.csv").is_file()
    page = (out / "leaderboard.html").read_text()
    assert "<script" not in page and 'src="http' not in page and 'href="http' not in page  # nothing fetched
    assert page.count("<svg") == len(charts.ALL) == 9 and "<NA>" not in page  # every chart, inline; counts formatted

    dom = chromium(tmp_path, "--dump-dom", (out / "leaderboard.html").as_uri())
    assert dom.returncode == 0, dom.stderr
    for agent in ("claude-code", "codex", "gemini-cli", "zero-shot", "instruct", "published: instruct"):
        assert agent in dom.stdout

    shot = tmp_path / "page.png"
    res = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,7000", (out / "leaderboard.html").as_uri())
    assert shot.is_file(), res.stderr
    img = Image.open(shot).convert("RGB")
    non_white = sum(n for n, px in img.getcolors(maxcolors=1 << 24) if min(px) < 235)
    assert non_white > 0.05 * img.width * img.height, "the page is (nearly) blank"
    for name, rgb in CHART_COLOURS.items():
        assert pixels_near(img, rgb) > 2000, f"no {name} drawn: the charts did not render"


def test_a_blank_page_fails_the_screenshot_check(tmp_path):
    """The check above must fail where the charts are missing: the same page, SVGs removed."""
    tree = make_tree(tmp_path / "results")
    from ptb.report import leaderboard, page

    board = leaderboard.build([tree])
    _, html_path = page.write(board, tmp_path / "board")
    text = html_path.read_text()
    while "<svg" in text:
        text = text[:text.index("<svg")] + text[text.index("</svg>", text.index("<svg")) + 6:]
    broken = tmp_path / "broken.html"
    broken.write_text(text)
    shot = tmp_path / "broken.png"
    chromium(tmp_path, f"--screenshot={shot}", "--window-size=1280,7000", broken.as_uri())
    img = Image.open(shot).convert("RGB")
    assert all(pixels_near(img, rgb) < 50 for rgb in CHART_COLOURS.values())

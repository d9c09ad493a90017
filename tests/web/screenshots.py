"""Screenshots of the operations map for docs/images (run by scripts/web-screenshots).

Starts the demo city on a free port, opens the map in headless chromium and saves the 2D
map (Korean, on the demo month's smoggiest day, a gauge selected) and the 3D view (English,
districts extruded by mean PM10). A Korean font (e.g. Debian's fonts-nanum) makes the
Korean labels readable.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from web_city import chromium, demo_hub, open_map

ROOT = Path(__file__).resolve().parents[2]
SMOGGIEST = """() => {
  const days = new Map();
  for (const series of smartseoul.state.history.values()) {
    for (const [at, value] of series.pm10 || []) days.set(at, (days.get(at) || 0) + value);
  }
  const best = [...days.entries()].sort((a, b) => b[1] - a[1])[0][0];
  return smartseoul.state.steps.indexOf(best);
}"""


def set_slider(page, index: int) -> None:
    page.evaluate(
        "(i) => { const s = document.getElementById('time'); s.value = String(i);"
        " s.dispatchEvent(new Event('input')); }",
        index,
    )
    page.wait_for_timeout(1200)


def main(out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as data, demo_hub(Path(data)) as base, chromium() as browser:
        page = open_map(browser, base, lang="ko", width=1280, height=900)
        set_slider(page, page.evaluate(SMOGGIEST))
        page.locator("tr[data-id='urn:ngsi-ld:AirQualityObserved:seoul:jongno-gu'] button").click()
        page.wait_for_selector("#chart canvas")
        page.wait_for_timeout(1200)
        page.screenshot(path=str(out / "web-map.png"))
        page.close()

        page = open_map(browser, base, lang="en", width=1280, height=900)
        set_slider(page, page.evaluate(SMOGGIEST))
        page.check("input[name=view][value='3d']")
        page.wait_for_timeout(2000)
        page.screenshot(path=str(out / "web-3d.png"))
        page.close()
    print(f"wrote {out / 'web-map.png'} and {out / 'web-3d.png'}")


if __name__ == "__main__":
    main(Path(sys.argv[1]) if len(sys.argv) > 1 else ROOT / "docs" / "images")

"""Open a page of `drctl report` in headless Chromium and print what the
browser made of it, as JSON, for tests/report_page.rs to judge:

- every console message, page error and network request (the page must
  load nothing and log nothing);
- per policy section (`section[id^=policy-]`): its heading and, per chart
  (`figure`), the caption, the SVG's label, the polylines' points as the
  browser parsed them (`SVGPolylineElement.points`), their stroke, the
  legend's texts with their colour, the circles with their titles, and the
  passed-drill ticks of the verdict timeline (one `M x y` per tick);
- the summary table's first column.

It also saves a full-page PNG screenshot.

    read_report.py PAGE.html SCREENSHOT.png [CHROMIUM]

Chromium is Debian's (`/usr/bin/chromium`, installed by scripts/chromium),
driven by Playwright's Python client without Playwright's own browsers.
"""

import json
import pathlib
import re
import sys

from playwright.sync_api import sync_playwright

# Chromium's background services reach for the network at start; this
# machine's network is closed, and the page must not need it anyway.
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

READ = """
() => {
  const attr = (el, name) => el.getAttribute(name);
  const policies = [...document.querySelectorAll('section[id^="policy-"]')].map(section => ({
    id: section.id,
    heading: section.querySelector('h3')?.textContent ?? null,
    charts: [...section.querySelectorAll('figure')].map(figure => {
      const svg = figure.querySelector('svg');
      return {
        caption: figure.querySelector('figcaption')?.textContent ?? null,
        label: svg ? attr(svg, 'aria-label') : null,
        width: svg ? svg.getBoundingClientRect().width : 0,
        polylines: svg ? [...svg.querySelectorAll('polyline')].map(p => ({
          stroke: attr(p, 'stroke'),
          points: [...p.points].map(pt => [pt.x, pt.y]),
        })) : [],
        texts: svg ? [...svg.querySelectorAll('text')].map(t => ({ fill: attr(t, 'fill'), text: t.textContent })) : [],
        circles: svg ? [...svg.querySelectorAll('circle')].map(c => ({
          cx: c.cx.baseVal.value, cy: c.cy.baseVal.value, fill: attr(c, 'fill'),
          title: c.querySelector('title')?.textContent ?? null,
        })) : [],
        paths: svg ? [...svg.querySelectorAll('path')].map(p => ({ stroke: attr(p, 'stroke'), d: attr(p, 'd') })) : [],
      };
    }),
  }));
  const summary = [...document.querySelectorAll('h2 + p + table tr td:first-child')].map(td => td.textContent);
  return { title: document.title, policies, summary };
}
"""


def main() -> None:
    page_path, screenshot = pathlib.Path(sys.argv[1]).resolve(), sys.argv[2]
    chromium = sys.argv[3] if len(sys.argv) > 3 else "/usr/bin/chromium"
    url = page_path.as_uri()
    seen = {"console": [], "page_errors": [], "requests": [], "failed_requests": []}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=chromium, headless=True, args=ARGS)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: seen["console"].append({"type": m.type, "text": m.text}))
        page.on("pageerror", lambda e: seen["page_errors"].append(str(e)))
        page.on("request", lambda r: r.url != url and seen["requests"].append(r.url))
        page.on("requestfailed", lambda r: seen["failed_requests"].append(f"{r.url}: {r.failure}"))
        page.goto(url, wait_until="load")
        read = page.evaluate(READ)
        page.screenshot(path=screenshot, full_page=True)
        browser.close()
    # A tick of the timeline is `M<x> <y>v<h>`: its x, parsed here once.
    for policy in read["policies"]:
        for chart in policy["charts"]:
            for path in chart["paths"]:
                path["ticks"] = [float(x) for x in re.findall(r"M(-?[\d.]+) ", path["d"] or "")]
    print(json.dumps({**seen, **read}))


if __name__ == "__main__":
    main()

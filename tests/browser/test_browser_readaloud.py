"""适老化 mode's 朗读 button in a real browser: shown in care mode, it hands the main content to the
browser's speech synthesis (stubbed in the page: headless Chromium has no voice), and stops on a second
press; outside care mode there is no button. A node without the demo seed: the home page is enough."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from browserkit import chromium, province  # noqa: F401 - fixture

from nodekit import Node

pytestmark = [pytest.mark.browser, pytest.mark.e2e, pytest.mark.slow]

# Records what would be spoken instead of speaking it.
STUB = """
window.__spoken = [];
window.__cancelled = 0;
window.SpeechSynthesisUtterance = function (text) { this.text = text; };
Object.defineProperty(window, "speechSynthesis", {
  configurable: true,
  value: {
    speak: function (u) { window.__spoken.push({ text: u.text, lang: u.lang }); },
    cancel: function () { window.__cancelled += 1; },
  },
});
"""


@pytest.fixture(scope="module")
def node(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Node]:
    with province(tmp_path_factory.mktemp("readaloud")) as started:
        yield started


def test_read_aloud_button_speaks_the_main_content(chromium: Any, node: Node) -> None:  # noqa: F811 - the kit's fixture
    context = chromium.new_context(locale="zh-CN", viewport={"width": 390, "height": 844})
    context.set_default_timeout(20_000)
    context.add_init_script(STUB)
    page = context.new_page()
    page.goto(f"{node.url}/")
    assert page.locator("#read-aloud").count() == 0, "no button outside care mode"
    page.locator("a", has_text="适老化模式").click()
    button = page.locator("#read-aloud")
    button.wait_for(state="visible")
    assert button.inner_text() == "朗读本页"
    button.click()
    spoken = page.evaluate("window.__spoken")
    main = page.inner_text("main")
    assert len(spoken) == 1 and spoken[0]["lang"] == "zh-CN"
    assert spoken[0]["text"].strip() == main.strip() and main.strip()
    assert button.inner_text() == "停止朗读" and button.get_attribute("aria-pressed") == "true"
    button.click()
    assert button.inner_text() == "朗读本页" and page.evaluate("window.__spoken.length") == 1
    context.close()


def test_without_javascript_the_button_stays_hidden(chromium: Any, node: Node) -> None:  # noqa: F811 - the kit's fixture
    context = chromium.new_context(locale="zh-CN", java_script_enabled=False)
    page = context.new_page()
    page.goto(f"{node.url}/care?mode=on&next=/")
    assert page.locator("html").get_attribute("class") == "care care-1"
    assert page.locator("#read-aloud").count() == 1 and not page.locator("#read-aloud").is_visible()
    context.close()

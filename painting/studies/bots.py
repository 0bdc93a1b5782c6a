"""Browser bots (`manage.py study_bots`): pilot participants who take a study in headless
Chromium through its real pages, as oTree's browser bots do: consent, paint and Classify each
image its minimum of rounds (an attention check's square painted inside its frame), Next, the
closing question, Finish. Each comes in by a signed one-time pilot link (pilots.py), so it is a
pilot everywhere, and no staff credentials are needed.

Anything a participant would trip on fails the run: a page error, a console error, a server
error (5xx), a failed round, a refused step, a missing control, a result that never comes."""

from __future__ import annotations

import os
import random
import re
import time
from dataclasses import dataclass, field

from .. import instructions
from ..chromium import CHROMIUM, CHROMIUM_ARGS
from ..models import Study
from . import pilots

VIEWPORT = {"width": 1280, "height": 900}
ONWARD = re.compile(r"^\s*(Next image|Finish)\s*$")
MAX_STEPS = 200  # a study longer than this is a loop, not a study


class BotError(Exception):
    """What went wrong for a bot, in words a researcher acts on."""


@dataclass
class Step:
    title: str
    rounds: int
    answer: str  # the model's last top-1 answer shown
    check: bool = False


@dataclass
class BotRun:
    number: int
    code: str = ""
    steps: list[Step] = field(default_factory=list)
    seconds: float = 0.0

    def describe(self) -> str:
        images = "; ".join(
            f"{s.title}{' (attention check)' if s.check else ''}: {s.rounds} round"
            f"{'' if s.rounds == 1 else 's'}, model said “{s.answer}”"
            for s in self.steps
        )
        done = f"participant {self.code}, finished in {self.seconds:.0f} s"
        return f"bot {self.number}: {done}; {images}"


def run_bots(study: Study, base_url: str, count: int, *, timeout_s: float = 60, say=print):
    """Run `count` bots one after another; their BotRuns. Raises BotError at the first bot
    that fails (the bots before it are kept, as pilots)."""
    try:
        from playwright.sync_api import sync_playwright
    except ImportError as exc:
        raise BotError(
            "study_bots needs Playwright: pip install -e '.[test]' (and apt-get install chromium)"
        ) from exc
    if not os.path.exists(CHROMIUM):
        raise BotError(f"{CHROMIUM} is missing: apt-get install chromium (or set XAI_CHROMIUM)")
    base_url = base_url.rstrip("/")
    runs = []
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            for number in range(1, count + 1):
                run = _one_bot(browser, study, base_url, number, timeout_s)
                say(run.describe())
                runs.append(run)
        finally:
            browser.close()
    return runs


def _one_bot(browser, study: Study, base_url: str, number: int, timeout_s: float) -> BotRun:
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(timeout_s * 1000)
    problems: list[str] = []
    # The bot stays on the app: anything elsewhere (a platform's completion page) is refused.
    context.route(
        "**/*",
        lambda route: (
            route.continue_() if route.request.url.startswith(base_url) else route.abort()
        ),
    )
    page = context.new_page()
    page.on("pageerror", lambda error: problems.append(f"page error: {error}"))
    page.on(
        "console",
        lambda m: (
            m.type == "error"
            and "responded with a status of 4" not in m.text
            and problems.append(f"console error: {m.text}")
        ),
    )
    page.on(
        "response",
        lambda r: r.status >= 500 and problems.append(f"server error {r.status} on {r.url}"),
    )
    run = BotRun(number)
    started = time.monotonic()
    try:
        _take_part(page, study, base_url + pilots.link_for(study), run, problems)
        _fail_on(problems, number, page)
    except BotError:
        raise
    except Exception as exc:  # Playwright's timeouts and missing elements, said with the page
        problems.insert(0, str(exc))
        _fail_on(problems, number, page)
    finally:
        context.close()
    run.seconds = time.monotonic() - started
    return run


def _fail_on(problems: list[str], number: int, page) -> None:
    if problems:
        raise BotError(f"bot {number} on {page.url}: " + "; ".join(problems[:5]))


def _take_part(page, study: Study, link: str, run: BotRun, problems: list[str]) -> None:
    page.goto(link)
    page.wait_for_load_state()
    _fail_on(problems, run.number, page)  # before waiting on a page that cannot work
    _refused(page, run.number)
    page.locator("input[name=agree]").check()
    page.get_by_role("button", name="Start").click()
    _onboard(page, study)
    for _ in range(MAX_STEPS):
        page.wait_for_load_state()
        _fail_on(problems, run.number, page)
        if "/finish/" in page.url:
            break
        _refused(page, run.number)
        run.steps.append(_do_image(page, study))
        page.get_by_role("link", name=ONWARD).first.click()
    else:
        raise BotError(f"bot {run.number} never reached Finish")
    answer = page.locator("textarea[name=answer], input[name=answer]")
    if answer.count():
        answer.first.fill(f"Pilot bot {run.number}: it looked at the object in the middle.")
    page.get_by_role("button", name="Finish").click()
    page.get_by_text("Thank you").wait_for()
    run.code = page.locator("[data-participant-code]").first.inner_text()


def _onboard(page, study: Study) -> None:
    """The instruction pages (Next, to the questions, or Start), then the quiz answered as the
    study file says is right."""
    for _ in range(MAX_STEPS):
        page.wait_for_load_state()
        if "/intro/" not in page.url:
            break
        onward = page.locator(".onboarding-nav a.primary, .onboarding-nav button.primary")
        onward.first.click()
    if "/quiz/" not in page.url:
        return
    for number, question in enumerate(study.quiz, start=1):
        page.locator(
            f'input[name="q{number}"][value="{instructions.answer_index(question)}"]'
        ).check()
    page.get_by_role("button", name="Check my answers").click()
    page.wait_for_load_state()
    if "/quiz/" in page.url:
        raise BotError("the quiz was not passed with the study file's own answers")


def _refused(page, number: int) -> None:
    if page.locator("[data-study-screened-out]").count():
        raise BotError(f"bot {number} was screened out (a failed attention check?)")
    refused = page.locator("[data-study-refused]")
    if not refused.count():
        return
    message = refused.first.inner_text()
    if "pilot link is not valid" in message:
        message += (
            " (study_bots signs its links with this machine's settings: run it with the app's"
            " own, the same XAI_SECRET_KEY or var/secret_key)"
        )
    raise BotError(f"bot {number} was refused: {message}")


def _do_image(page, study: Study) -> Step:
    """Paint and Classify the image shown its minimum of rounds (one for a practice image or
    an attention check), each result awaited."""
    page.locator("#result.done").wait_for()
    title = page.title().split("·")[0].strip()
    check = page.locator(".check-target[data-check-target]")
    is_check = check.count() > 0
    rounds = 1 if is_check else max(1, study.min_rounds_per_image)
    answer = ""
    for index in range(1, rounds + 1):
        if is_check:
            _paint_check(page, check.get_attribute("data-check-target"))
        else:
            _paint_somewhere(page)
        prediction = page.locator("[data-prediction-input]")
        if prediction.count():
            prediction.fill("the same as before")
        page.get_by_role("button", name=re.compile(r"^(Classify|Detect)$")).click()
        result = page.locator(f'#result[data-round-index="{index}"]')
        result.and_(page.locator(".done, .failed")).wait_for()
        if "failed" in (result.get_attribute("class") or ""):
            raise BotError(f"a round failed on “{title}”: {result.inner_text()}")
        answer = page.locator("#result [data-top1]").inner_text()
    return Step(title, rounds, answer, is_check)


def _canvas(page):
    canvas = page.locator("canvas[data-mask]")
    box = canvas.bounding_box()
    scale = box["width"] / int(canvas.get_attribute("width"))  # screen px per image px
    return box, scale


def _stroke(page, points) -> None:
    page.mouse.move(*points[0])
    page.mouse.down()
    for x, y in points[1:]:
        page.mouse.move(x, y, steps=8)
    page.mouse.up()


def _set_brush(page, image_px: int) -> None:
    """The brush size, set as its slider would (the slider may sit in a folded menu)."""
    page.locator("[data-brush-size]").evaluate(
        "(el, v) => { el.value = v; el.dispatchEvent(new Event('input', {bubbles: true})); }",
        str(image_px),
    )


def _paint_somewhere(page) -> None:
    box, _scale = _canvas(page)
    x0, y0 = random.uniform(0.15, 0.55), random.uniform(0.15, 0.55)
    at = [(x0, y0), (x0 + 0.25, y0 + 0.1), (x0 + 0.1, y0 + 0.3)]
    _stroke(page, [(box["x"] + box["width"] * x, box["y"] + box["height"] * y) for x, y in at])


def _paint_check(page, target: str) -> None:
    """Cover the check's square (left top width height, fractions of the image) with
    horizontal strokes kept inside its frame."""
    left, top, width, height = (float(v) for v in target.split())
    box, scale = _canvas(page)
    w_px, h_px = width * box["width"] / scale, height * box["height"] / scale
    brush = int(max(4, min(120, min(w_px, h_px) / 3)))
    _set_brush(page, brush)
    b = brush * scale  # on screen
    x0 = box["x"] + left * box["width"] + b / 2
    x1 = box["x"] + (left + width) * box["width"] - b / 2
    y = box["y"] + top * box["height"] + b / 2
    y1 = box["y"] + (top + height) * box["height"] - b / 2
    while True:
        _stroke(page, [(x0, y), (x1, y)])
        if y >= y1:
            break
        y = min(y1, y + 0.7 * b)

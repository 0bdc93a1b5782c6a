"""What a study's instruction pages and quiz may hold: the checks the study file and admin
run (one problem a line). No models here: Study.clean calls them."""

from __future__ import annotations

MAX_PAGES = 20
MAX_QUESTIONS = 20
MAX_OPTIONS = 10
MAX_TEXT = 5000
MAX_IMAGE_URL = 500

PAGE_KEYS = ("title", "text", "image")
QUESTION_KEYS = ("question", "options", "answer")


def _text(value, limit: int) -> bool:
    return isinstance(value, str) and bool(value.strip()) and len(value) <= limit


def _site_path(value) -> bool:
    """An image on this site ("/static/..."): the pages' Content-Security-Policy allows no
    other origin, and a path cannot smuggle a script or a quote into the page."""
    return (
        isinstance(value, str)
        and value.startswith("/")
        and not value.startswith("//")
        and len(value) <= MAX_IMAGE_URL
        and not any(c.isspace() or c in "\"'<>\\" for c in value)
    )


def page_problems(pages) -> list[str]:
    if not isinstance(pages, list):
        return ["instruction_pages must be a list of pages ({text, image, title})"]
    problems = []
    if len(pages) > MAX_PAGES:
        problems.append(f"instruction_pages: at most {MAX_PAGES} pages")
    for number, page in enumerate(pages, 1):
        where = f"instruction_pages[{number}]"
        if not isinstance(page, dict):
            problems.append(f"{where}: a page is an object with a text (and an image, a title)")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in page if k not in PAGE_KEYS]
        if not _text(page.get("text"), MAX_TEXT):
            problems.append(f"{where}: text must be a string of 1 to {MAX_TEXT} characters")
        if "title" in page and not _text(page["title"], 200):
            problems.append(f"{where}: title must be a string of 1 to 200 characters")
        if "image" in page and not _site_path(page["image"]):
            problems.append(
                f"{where}: image must be a path on this site, such as "
                "/static/painting/instructions/brush.png"
            )
    return problems


def answer_index(question: dict) -> int:
    """The right option's index: the answer is its text or its index (0-based)."""
    answer = question["answer"]
    return answer if isinstance(answer, int) else question["options"].index(answer)


def quiz_problems(quiz) -> list[str]:
    if not isinstance(quiz, list):
        return ["quiz must be a list of questions ({question, options, answer})"]
    problems = []
    if len(quiz) > MAX_QUESTIONS:
        problems.append(f"quiz: at most {MAX_QUESTIONS} questions")
    for number, item in enumerate(quiz, 1):
        where = f"quiz[{number}]"
        if not isinstance(item, dict):
            problems.append(f"{where}: a question is an object with question, options, answer")
            continue
        problems += [f"{where}: unknown key {k!r}" for k in item if k not in QUESTION_KEYS]
        if not _text(item.get("question"), 1000):
            problems.append(f"{where}: question must be a string of 1 to 1000 characters")
        options = item.get("options")
        if (
            not isinstance(options, list)
            or not 2 <= len(options) <= MAX_OPTIONS
            or not all(_text(o, 300) for o in options)
        ):
            problems.append(
                f"{where}: options must be a list of 2 to {MAX_OPTIONS} strings "
                "(1 to 300 characters each)"
            )
            continue
        if len(set(options)) != len(options):
            problems.append(f"{where}: an option is listed twice")
        answer = item.get("answer")
        by_index = isinstance(answer, int) and not isinstance(answer, bool)
        if not (answer in options if isinstance(answer, str) else by_index):
            problems.append(f"{where}: answer must be one of the options (or its index from 0)")
        elif by_index and not 0 <= answer < len(options):
            problems.append(
                f"{where}: answer {answer} is not an option's index (0 to {len(options) - 1})"
            )
    return problems

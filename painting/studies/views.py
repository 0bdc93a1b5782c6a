"""The participant's path through a study: the link (with the platform's ids), consent or
decline, the images in order, finish (and the platform's completion URL), withdraw."""

from __future__ import annotations

from urllib.parse import urlsplit

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from .. import ratelimit
from ..forms import ClosingForm, PlatformIdsForm, first_error
from ..models import Participant, Study
from ..visitors import visitor_id
from . import links, onboarding, pages, pilots, queries, rules
from .pages import PROOF_KEY, has_proof, participant_session_key
from .understanding import trials as understanding
from .understanding.views import static_step, test_first, tests_before_finish


def _attach(
    request: HttpRequest, study: Study, participant: Participant, *, proven: bool = False
) -> None:
    """From now on this browser is the participant (and owns what they made, painting/views.py);
    `proven`: it gave the participant code (pages.has_proof). The session gets a new key, so
    a session cookie planted in the browser beforehand does not follow the participant."""
    visitor_id(request, create=True)
    request.session.cycle_key()
    request.session[participant_session_key(study.slug)] = str(participant.pk)
    if proven:
        request.session[PROOF_KEY + study.slug] = str(participant.pk)


def _not_yet(request: HttpRequest, participant: Participant, step: int):
    """Refused when an image before `step` still lacks the study's minimum of rounds (step
    image_count + 1 is Finish); None when the participant may go there."""
    reachable = queries.reachable_step(participant)
    if step <= reachable:
        return None
    message = queries.rounds_needed_message(participant, reachable)
    label = queries.step_name(participant, reachable)
    return pages.refused(request, participant.study, message, 409, reachable, back_label=label)


def _took_part(request: HttpRequest, study: Study, ids: dict, *, error: str = ""):
    """The id on the link is another browser's: its participant may go on here with their
    code; anyone else is told whom to ask (someone may have used their id)."""
    context = {
        "study": study,
        "message": rules.AlreadyTookPart.message,
        "final": True,
        "code_form": {
            "action": reverse("painting:study-resume", args=[study.slug]),
            "ids": ids,
            "intro": "Did you start this study in another browser? Enter the participant code "
            "shown there (at the top of each page) to go on here.",
            "button": "Go on here",
            "error": error,
        },
        "not_you": True,
    }
    return render(request, "painting/study_refused.html", context, status=403)


def _code_tried(request: HttpRequest) -> HttpResponse | None:
    """A participant code typed in is counted (a wrong one may be a guess): 429 past the
    limit, else None."""
    if refused := ratelimit.refusal(request, "code", visitor_id(request)):
        return HttpResponse(refused, status=429, content_type="text/plain; charset=utf-8")
    return None


WRONG_CODE = "That code is not right. Please check it: it has 8 letters and digits."


def _bad_link(request: HttpRequest, study: Study, form: PlatformIdsForm):
    message = f"{first_error(form)} Please open the study from the link you were given."
    return pages.refused(request, study, message, 400, final=True)


def _may_send_to(response: HttpResponse, *urls: str) -> HttpResponse:
    """Let the page's form lead to these URLs: the Content-Security-Policy's form-action is
    'self', and the browser applies it to where the form's answer redirects too (a Finish
    that ends on the platform's completion page would be blocked)."""
    origins = sorted({f"{p.scheme}://{p.netloc}" for p in map(urlsplit, urls) if p.netloc})
    if origins:
        response._csp_update = {"form-action": origins}
    return response


def _full(request: HttpRequest, study: Study):
    """The study has all its participants: nothing is counted or stored."""
    context = {"study": study, "message": rules.StudyFull.message, "final": True, "full": True}
    return render(request, "painting/study_refused.html", context)


def _pilot(request: HttpRequest, study: Study, ids: dict):
    """A pilot link's signed ?pilot= token (pilots.py): (the pilot's external id, "" for a
    participant's link; the hidden fields to carry on; a refusal or None). A pilot may try a
    closed or full study: that is what a pilot is for."""
    token = (request.POST if request.method == "POST" else request.GET).get(pilots.PARAMETER)
    if not token:
        return "", ids, None
    try:
        pilot_id = pilots.external_id_of(study, token)
        pilots.pilot_of(study, pilot_id, visitor_id(request))
    except (pilots.BadPilotLink, pilots.UsedPilotLink) as exc:
        return "", ids, pages.refused(request, study, exc.message, 403, final=True)
    return pilot_id, {**ids, pilots.PARAMETER: token}, None


WITHDREW_KEY = "withdrew:"  # + the study's slug: this browser withdrew from it


def _withdrawn(request: HttpRequest, study: Study, *, just_now: bool = False):
    """The page of someone who withdrew: what to do on the platform; never consent again."""
    context = {"study": study, "just_now": just_now}
    return render(request, "painting/study_withdrawn.html", context)


def _link_problem(request: HttpRequest, study: Study, form: PlatformIdsForm, pilot_id: str):
    """The page for a link that takes nobody further (a missing id or a placeholder where the
    study needs an id; an id, or a browser, that withdrew), or None; sets form.external_id
    to the id the participant takes ("" for one generated at consent; a pilot's own id)."""
    if pilot_id:  # the signed pilot token is the id
        form.external_id = pilot_id
        return None
    if request.session.get(WITHDREW_KEY + study.slug):
        return _withdrawn(request, study)
    try:
        form.external_id = links.link_id(study, form.ids()["external_id"])
    except links.NoId as exc:
        return pages.refused(request, study, exc.message, 400, final=True)
    if rules.has_withdrawn(study, form.external_id):
        return _withdrawn(request, study)
    return None


def _link_ids(form: PlatformIdsForm) -> dict:
    """The ids a participant stores, with the external id _link_problem settled on."""
    return {**form.ids(), "external_id": form.external_id}


def _read_link(request: HttpRequest, study: Study, data):
    """What the link page and the consent form both check first: a browser already in the
    study goes on; a bad link, a refused pilot token or a link that takes nobody further is
    answered. ((form, pilot id, hidden ids), None), or (None, the answer)."""
    if participant := pages.session_participant(request, study):
        return None, pages.go_on(request, participant)
    form = PlatformIdsForm(data)
    if not form.is_valid():
        return None, _bad_link(request, study, form)
    pilot_id, ids, refused = _pilot(request, study, form.hidden())
    if refused := refused or _link_problem(request, study, form, pilot_id):
        return None, refused
    return (form, pilot_id, ids), None


@require_GET
def consent_page(request: HttpRequest, slug: str):
    """The study link. A browser already in the study, or a platform id that has consented
    before (in another browser, where the study allows it), goes on where it left off;
    anyone else reads the consent form, which carries the link's ids on."""
    study = get_object_or_404(Study, slug=slug)
    link, answer = _read_link(request, study, request.GET)
    if answer:
        return answer
    form, pilot_id, ids = link
    try:
        returning = rules.participant_of_link(study, form.external_id, visitor_id(request))
    except rules.AlreadyTookPart:
        return _took_part(request, study, form.hidden())
    if returning:
        _attach(request, study, returning)
        return pages.go_on(request, returning)
    if not pilot_id and (not study.is_open or rules.is_full(study)):
        if study.participants_per_condition:
            return _full(request, study)
        raise Http404
    context = {"study": study, "ids": ids, "pilot": bool(pilot_id)}
    response = render(request, "painting/study_consent.html", context)
    return _may_send_to(response, links.screened_out_url(study))


@require_POST
def consent(request: HttpRequest, slug: str):
    study = get_object_or_404(Study, slug=slug)
    link, answer = _read_link(request, study, request.POST)
    if answer:
        return answer
    form, pilot_id, ids = link
    if not study.is_open and not pilot_id:
        if study.participants_per_condition:
            return _full(request, study)
        raise Http404
    # A new participant (or a counted decline) from an unknown browser: bounded per address,
    # as new explorations are, so a script cannot fill a study with participants. (A pilot
    # link is its own bound: each makes one participant, and only staff make them.)
    if not pilot_id and (refused := ratelimit.refusal(request, "explore", "")):
        return HttpResponse(refused, status=429, content_type="text/plain; charset=utf-8")
    width, height = request.POST.get("screen_width"), request.POST.get("screen_height")
    if request.POST.get("decline") and queries.measured_too_small(study, width, height):
        # A window too small is not a decline: counted nothing, told to rotate or come back.
        problem = queries.screen_problem(study, width, height)
        context = {"study": study, "ids": form.hidden(), "screen_error": problem}
        response = render(request, "painting/study_consent.html", context, status=400)
        return _may_send_to(response, links.screened_out_url(study))
    if request.POST.get("decline"):
        if not pilot_id:
            rules.decline(study)
        return pages.screened_out(request, study, declined=True)
    if not request.POST.get("agree"):
        context = {"study": study, "ids": ids, "pilot": bool(pilot_id), "error": True}
        response = render(request, "painting/study_consent.html", context, status=400)
        return _may_send_to(response, links.screened_out_url(study))
    if problem := queries.screen_problem(study, width, height):
        context = {"study": study, "ids": ids, "pilot": bool(pilot_id), "screen_error": problem}
        response = render(request, "painting/study_consent.html", context, status=400)
        return _may_send_to(response, links.screened_out_url(study))
    try:
        participant = rules.consent(
            study,
            visitor=visitor_id(request, create=True),
            address=ratelimit.client_address(request),
            **_link_ids(form),
            pilot=bool(pilot_id),
        )
    except rules.AlreadyTookPart:
        return _took_part(request, study, form.hidden())
    except rules.StudyFull:
        return _full(request, study)
    except rules.TooManyFromAddress as exc:
        return pages.refused(request, study, exc.message, 403, final=True)
    _attach(request, study, participant)
    return pages.go_on(request, participant)


@require_POST
def resume(request: HttpRequest, slug: str):
    """Another browser goes on as the participant whose code it gives (the link's platform id,
    where it carries one, must be theirs too); it may then withdraw as well."""
    study = get_object_or_404(Study, slug=slug)
    if participant := pages.session_participant(request, study):
        return pages.go_on(request, participant)
    form = PlatformIdsForm(request.POST)
    if not form.is_valid():
        return _bad_link(request, study, form)
    if limited := _code_tried(request):
        return limited
    code = request.POST.get("code", "")
    participant = queries.participant_of_code(study, code, form.ids()["external_id"])
    if participant is None:
        return _took_part(request, study, form.hidden(), error=WRONG_CODE)
    _attach(request, study, participant, proven=True)
    return pages.go_on(request, participant)


@require_GET
def step(request: HttpRequest, slug: str, step: int):
    study = get_object_or_404(Study, slug=slug)
    participant = pages.participant_for(request, study)
    if not 1 <= step <= queries.image_count(study):
        raise Http404
    if over := queries.refusal(participant):
        return pages.refused(request, study, over, 403)
    if queries.study_time_is_up(participant):
        return redirect("painting:study-finish", slug=study.slug)
    if onboarding.pending(participant):  # the instructions (and quiz) first
        return redirect(onboarding.first_url(study))
    if pre_test := test_first(participant, "pre"):
        return pre_test
    if refused := _not_yet(request, participant, step):
        return refused
    exploration = rules.exploration_for_step(participant, visitor_id(request, create=True), step)
    if understanding.views_statically(participant):
        return static_step(request, participant, step, exploration)
    return redirect("painting:explore", exploration.pk)


@require_http_methods(["GET", "POST"])
def finish(request: HttpRequest, slug: str):
    """The closing question, then the end: the platform's completion URL with its code, once
    everything is saved (or this page with the participant code, where the study has none)."""
    study = get_object_or_404(Study, slug=slug)
    participant = pages.participant_for(request, study)
    if participant.screened_out_at:
        return pages.screened_out(request, study, pilot=participant.pilot)
    finish_step = queries.image_count(study) + 1
    if not participant.finished_at and (refused := _not_yet(request, participant, finish_step)):
        return refused
    tests = not participant.finished_at and tests_before_finish(participant)
    if tests:
        return tests
    form = ClosingForm(request.POST or None)
    context = {
        "study": study,
        "participant": participant,
        "form": form,
        "proven": has_proof(request, participant),
        "time_up": queries.STUDY_TIME_UP_AT_FINISH
        if not participant.finished_at and queries.study_time_is_up(participant)
        else "",
    }
    if request.method == "POST":
        if participant.finished_at:
            return _already_finished(request, context)
        if not form.is_valid():
            response = render(request, "painting/study_finish.html", context, status=400)
            return _may_send_to(response, links.completion_url(study))
        if not rules.finish(participant, form.cleaned_data["answer"]):
            return _already_finished(request, context)  # a second submit raced the first
    # A pilot (pilots.py) has no submission on the platform: it stays here, with its code.
    if participant.finished_at and not participant.pilot and (url := links.completion_url(study)):
        return redirect(url)
    response = render(request, "painting/study_finish.html", context)
    return _may_send_to(response, links.completion_url(study))


def _already_finished(request: HttpRequest, context: dict):
    """A finished participant's answers are final: a second Finish changes nothing."""
    context["error"] = "You have already finished this study; your first answers are kept."
    return render(request, "painting/study_finish.html", context, status=409)


@require_http_methods(["GET", "POST"])
def withdraw(request: HttpRequest, slug: str):
    """Delete the participant's data, at any time before they finish (GET asks "are you
    sure?" first): from the browser that consented, or one that gives the participant code (a
    platform id on a link is not enough); never once they have finished (a researcher does
    that in admin). Afterwards the study's link says they withdrew, in this browser and for
    their platform id."""
    study = get_object_or_404(Study, slug=slug)
    if request.method == "GET" and request.session.get(WITHDREW_KEY + study.slug):
        return _withdrawn(request, study)
    participant = pages.participant_for(request, study)
    if refused := queries.withdraw_refusal(participant):
        return pages.refused(request, study, refused, 403)
    if request.method == "GET":
        if not has_proof(request, participant):
            return _code_asked(request, study, status=200)
        return render(request, "painting/study_withdraw.html", {"study": study})
    if not has_proof(request, participant):
        if "code" not in request.POST:
            return _code_asked(request, study)
        if limited := _code_tried(request):
            return limited
        if queries.participant_of_code(study, request.POST["code"]) != participant:
            return _code_asked(request, study, WRONG_CODE)
    rules.withdraw(participant)
    del request.session[participant_session_key(study.slug)]
    request.session.pop(PROOF_KEY + study.slug, None)
    request.session[WITHDREW_KEY + study.slug] = True
    return _withdrawn(request, study, just_now=True)


def _code_asked(request: HttpRequest, study: Study, error: str = "", status: int = 403):
    """Withdrawing from a browser that only reopened the participant's link needs their code."""
    context = {
        "study": study,
        "code_form": {
            "action": reverse("painting:study-withdraw", args=[study.slug]),
            "ids": {},
            "intro": "To withdraw in this browser, please enter your participant code: it is "
            "shown at the top of each page in the browser where you agreed to take part.",
            "button": "Withdraw and delete my data",
            "error": error,
            "cancel": reverse("painting:study", args=[study.slug]),
        },
        "final": True,
    }
    return render(request, "painting/study_refused.html", context, status=status)

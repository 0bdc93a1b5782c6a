"""Images, explorations (one visitor × one image × one model) and their rounds."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, MinValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from . import brush_log
from .edits import ROTATIONS, Edits
from .inference import methods
from .instructions import page_problems, quiz_problems
from .masking import Fill


class Picture(models.Model):
    """An image to explore: a gallery photo (shared) or an upload (its owner's only)."""

    FOLDER = "pictures/"  # round 0 of every exploration of a picture points at its files

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    title = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True, null=True, blank=True)
    is_gallery = models.BooleanField(default=False)
    owner = models.CharField(max_length=64, blank=True, db_index=True)
    file = models.FileField(upload_to=FOLDER)
    thumbnail = models.FileField(upload_to=FOLDER)
    # The Region tool's superpixels (painting.segments), made when the picture is added.
    segments = models.FileField(upload_to=FOLDER, blank=True)
    segment_count = models.PositiveIntegerField(default=0)
    width = models.PositiveIntegerField()
    height = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    source = models.CharField(max_length=300, blank=True)
    licence = models.CharField(max_length=200, blank=True)
    stored_bytes = models.PositiveBigIntegerField(default=0)  # its files, for the quota
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "image"
        ordering = ["-is_gallery", "title"]

    def __str__(self) -> str:
        return self.title

    @property
    def segments_file_name(self) -> str:
        """Its Region map's file name (one per photo: the same picture, the same map)."""
        return f"{self.sha256[:16]}-segments.png"

    def visible_to(self, visitor: str) -> bool:
        return self.is_gallery or (bool(visitor) and self.owner == visitor)


def _fraction(value: float) -> None:
    if not 0 <= value <= 1:
        raise ValidationError("A share from 0 to 1.")


class Task(models.TextChoices):
    """What the model of an exploration does with the picture."""

    CLASSIFY = "classify", "classify the picture"
    DETECT = "detect", "find the objects in it"


# A completion code goes into a URL as it is: letters, digits, - and _ only.
code_validator = RegexValidator(r"^[A-Za-z0-9_-]*$", "Letters, digits, - and _ only.")


def default_consents_per_address() -> int:
    return settings.XAI_STUDY_CONSENTS_PER_ADDRESS


class Study(models.Model):
    """A user study: consent, instructions, an ordered list of gallery images, its conditions,
    and where a recruiting platform wants its participants sent at the end."""

    class Order(models.TextChoices):
        FIXED = "fixed", "fixed (the images' positions)"
        RANDOM = "random", "random per participant (seeded; the seed is stored)"

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    consent_text = models.TextField()
    consent_version = models.CharField(max_length=32, default="1")
    instructions = models.TextField(blank=True)
    ask_prediction = models.BooleanField(
        default=False, help_text="Ask “what do you expect the model to say now?” each round."
    )
    closing_question = models.TextField(blank=True)
    min_rounds_per_image = models.PositiveSmallIntegerField(
        default=1,
        help_text="Rounds of their own (paint, Classify) each image needs before Next; 0: none.",
    )
    order = models.CharField(max_length=8, choices=Order.choices, default=Order.FIXED)
    # Time limits, enforced by the server (0: none). An image's runs from its first opening,
    # the study's from consent: both are stored times, so a reload resets neither (oTree).
    time_limit_per_image_s = models.PositiveIntegerField(
        default=0,
        help_text="Seconds on each image, from its first opening; after it, nothing more is "
        "recorded for the image and Next opens. 0: no limit.",
    )
    time_limit_s = models.PositiveIntegerField(
        default=0,
        help_text="Seconds for the whole study, from consent; after it, participants are sent "
        "to Finish. 0: no limit.",
    )
    min_screen_width = models.PositiveSmallIntegerField(
        default=0, help_text="Smallest browser window width (CSS pixels) to take part; 0: any."
    )
    min_screen_height = models.PositiveSmallIntegerField(
        default=0, help_text="Smallest browser window height (CSS pixels) to take part; 0: any."
    )
    allow_resume_elsewhere = models.BooleanField(
        default=True,
        help_text="The same participant id on the link in another browser resumes the same "
        "participant; off: that browser is told they have already taken part.",
    )
    completion_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where Finish sends participants, e.g. "
        "https://app.prolific.com/submissions/complete. {code} in it is replaced by the "
        "completion code; without {code}, ?cc=CODE is appended. Empty: the finish page shows "
        "the participant code.",
    )
    completion_code = models.CharField(max_length=64, blank=True, validators=[code_validator])
    screened_out_url = models.URLField(
        max_length=500,
        blank=True,
        help_text="Where those who do not agree (or are screened out) are sent; as above.",
    )
    screened_out_code = models.CharField(max_length=64, blank=True, validators=[code_validator])
    # Those who clicked "I do not agree": counted, never stored (nothing before consent).
    declined_count = models.PositiveIntegerField(default=0, editable=False)
    # Those who withdrew: their rows are deleted, so only the count stays (per condition too).
    withdrawn_count = models.PositiveIntegerField(default=0, editable=False)
    screen_out_on_failed_check = models.BooleanField(
        default=False,
        help_text="Screen out participants who fail attention checks, at the number below (their "
        "data but the checks' deleted, sent to the screened-out URL); off: failures are only "
        "recorded.",
    )
    screen_out_after_failed_checks = models.PositiveSmallIntegerField(
        default=2,
        validators=[MaxValueValidator(100)],
        help_text="With the switch above on: the participant is screened out at this many failed "
        "attention checks (Prolific allows rejecting only for two); fewer are only recorded, "
        "and the participant goes on. 0: never screened out.",
    )
    allow_missing_id = models.BooleanField(
        default=False,
        help_text="Take people whose link carries no participant id (PROLIFIC_PID or pid, or "
        "still the platform's {{%PROLIFIC_PID%}} placeholder): each browser becomes a "
        "participant with a generated id. Off: such a link is refused, nothing stored.",
    )
    min_seconds_per_image = models.PositiveIntegerField(
        default=0,
        validators=[MaxValueValidator(24 * 3600)],
        help_text="Seconds on an image below which its rows are flagged too_fast in the export "
        "(never refused). 0: no flag.",
    )
    max_consents_per_address = models.PositiveSmallIntegerField(
        default=default_consents_per_address,
        validators=[MaxValueValidator(10_000)],
        help_text="New participants that one network address (an IPv6 /64) may start in this "
        "study; 0: no limit (e.g. a lab whose computers share one address).",
    )
    participants_per_condition = models.PositiveIntegerField(
        default=0,
        help_text="Places per condition (the whole study's, without conditions): finished plus "
        "active participants. A full condition takes nobody more; once all are full, the study "
        "closes itself and newcomers see that it is full. 0: no limit.",
    )
    bonus_per_finished = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Bonus for each finished participant (the platform's currency); the export's "
        "bonus.csv lists it for Prolific's bulk bonus. 0: none.",
    )
    bonus_per_passed_check = models.DecimalField(
        max_digits=6,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
        help_text="Bonus for each attention check a finished participant passed. 0: none.",
    )
    # Consents so far, withdrawn ones included: the next participant's assignment_index.
    assignment_count = models.PositiveIntegerField(default=0, editable=False)
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Onboarding (painting/studies/onboarding.py), shown once between consent and the first image.
    instruction_pages = models.JSONField(
        default=list,
        blank=True,
        help_text='Pages shown once after consent: [{"text": "...", "image": '
        '"/static/...", "title": "..."}] (image and title optional).',
    )
    quiz = models.JSONField(
        default=list,
        blank=True,
        help_text="Questions after the pages, repeated until every answer is right: "
        '[{"question": "...", "options": ["...", "..."], "answer": "..."}].',
    )
    # Understanding tests before the first image and after the last (studies/understanding/).
    tests = models.JSONField(
        default=dict,
        blank=True,
        help_text='{"method": "gradcam", "pre": [trial, …], "post": [trial, …]}; each trial '
        '{"kind": "distinction" | "agreement" | "simulation", "image": …}: see '
        "docs/understanding.md. After a change, run manage.py prepare_tests.",
    )
    # What `manage.py prepare_tests` computed for the tests (the model's answers, the maps).
    test_material = models.JSONField(default=dict, blank=True, editable=False)

    class Meta:
        verbose_name_plural = "studies"

    def __str__(self) -> str:
        return self.name

    def steps(self) -> models.QuerySet:
        """Its images by position; only gallery photos (an upload is private to its owner)."""
        return self.images.filter(picture__is_gallery=True).select_related("picture")

    def clean(self) -> None:
        # An emptied box in admin is none (the form reads it as null).
        self.instruction_pages = [] if self.instruction_pages is None else self.instruction_pages
        self.quiz = [] if self.quiz is None else self.quiz
        errors = {}
        if problems := page_problems(self.instruction_pages):
            errors["instruction_pages"] = problems
        if problems := quiz_problems(self.quiz):
            errors["quiz"] = problems
        if errors:
            raise ValidationError(errors)


class StudyImage(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    # Only gallery photos: an upload is private to the visitor who sent it.
    picture = models.ForeignKey(
        Picture, on_delete=models.PROTECT, limit_choices_to={"is_gallery": True}
    )
    position = models.PositiveSmallIntegerField(default=0)
    task = models.CharField(
        max_length=8,
        choices=Task.choices,
        blank=True,
        help_text="What the model does with this image; empty: the condition's task, else "
        "classify.",
    )
    is_practice = models.BooleanField(
        default=False,
        help_text="Shown first, before the images of the study; needs no minimum of rounds; "
        "its rounds are marked practice in the export.",
    )
    # An attention check: the page marks a region of the image (a red square) and gives the
    # instruction; the first Classify is the answer, judged by the server against the region.
    is_attention_check = models.BooleanField(
        default=False,
        help_text="An attention check: the marked region below is drawn over the image, and the "
        "participant's first Classify is judged against it.",
    )
    check_instruction = models.CharField(
        max_length=300,
        blank=True,
        default="Cover the red square with paint; stay inside its red dashed frame. Then press "
        "Classify.",
    )
    check_left = models.FloatField(
        default=0.35, validators=[_fraction], help_text="Left edge, as a share of the width."
    )
    check_top = models.FloatField(
        default=0.35, validators=[_fraction], help_text="Top edge, as a share of the height."
    )
    check_width = models.FloatField(
        default=0.3, validators=[_fraction], help_text="Width, as a share of the image's."
    )
    check_height = models.FloatField(
        default=0.3, validators=[_fraction], help_text="Height, as a share of the image's."
    )
    check_min_covered = models.FloatField(
        default=0.8, validators=[_fraction], help_text="Share of the square to paint, at least."
    )
    check_max_outside = models.FloatField(
        default=0.1,
        validators=[_fraction],
        help_text="Share of the image outside the square that may be painted, at most.",
    )

    class Meta:
        ordering = ["study", "position"]

    def __str__(self) -> str:
        kind = (
            " (practice)"
            if self.is_practice
            else " (attention check)"
            if self.is_attention_check
            else ""
        )
        return f"{self.position}. {self.picture}{kind}"

    def clean(self) -> None:
        if not self.is_attention_check:
            return
        if self.is_practice:
            raise ValidationError("An image is either a practice image or an attention check.")
        if self.check_width <= 0 or self.check_height <= 0:
            raise ValidationError("The attention check's square needs a width and a height.")
        if self.check_left + self.check_width > 1 or self.check_top + self.check_height > 1:
            raise ValidationError("The attention check's square must lie inside the image.")

    # The dashed frame around the square: paint inside it never fails the outside threshold,
    # as the ring between square and frame holds this share of the paint allowed outside.
    FRAME_SHARE = 0.8

    def check_frame(self, width: int, height: int) -> tuple[float, float, float, float]:
        """The frame a participant may paint up to, as shares of the image: (left, top, width,
        height). Its margin m (pixels) solves (w + 2m)(h + 2m) - wh = FRAME_SHARE × allowed,
        the allowed being check_max_outside of the image outside the square."""
        x0, y0, x1, y1 = self.check_box(width, height)
        w, h = x1 - x0, y1 - y0
        allowed = self.FRAME_SHARE * self.check_max_outside * (width * height - w * h)
        margin = (-(w + h) + ((w + h) ** 2 + 4 * allowed) ** 0.5) / 4
        left, top = max(0.0, x0 - margin), max(0.0, y0 - margin)
        right, bottom = min(width, x1 + margin), min(height, y1 + margin)
        return left / width, top / height, (right - left) / width, (bottom - top) / height

    def check_box(self, width: int, height: int) -> tuple[int, int, int, int]:
        """The marked region in pixels of a width × height image: (x0, y0, x1, y1), x1 and y1
        excluded, at least one pixel."""
        x0, y0 = round(self.check_left * width), round(self.check_top * height)
        x1 = max(x0 + 1, round((self.check_left + self.check_width) * width))
        y1 = max(y0 + 1, round((self.check_top + self.check_height) * height))
        return x0, y0, min(x1, width), min(y1, height)


class CheckAnswer(models.Model):
    """A participant's answer to an attention check: how much of the marked region they painted,
    how much outside it, and whether that passed the step's thresholds. It stays when a failed
    check screens the participant out (their rounds go)."""

    participant = models.ForeignKey(
        "Participant", on_delete=models.CASCADE, related_name="check_answers"
    )
    picture = models.ForeignKey(Picture, on_delete=models.CASCADE, related_name="+")
    passed = models.BooleanField()
    covered = models.FloatField(help_text="Share of the marked region painted.")
    outside = models.FloatField(help_text="Share of the image outside the region painted.")
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "answered_at"]
        constraints = [
            # Answered once: a second answer (a double click, a replayed request) is refused.
            models.UniqueConstraint(fields=["participant", "picture"], name="one_answer_per_check")
        ]

    def __str__(self) -> str:
        return f"{'passed' if self.passed else 'failed'}: {self.covered:.0%} covered"


class QuizAttempt(models.Model):
    """One try at a study's comprehension quiz: the options chosen, and which were wrong."""

    participant = models.ForeignKey(
        "Participant", on_delete=models.CASCADE, related_name="quiz_attempts"
    )
    number = models.PositiveSmallIntegerField(help_text="1 for the first try.")
    answers = models.JSONField(default=list, help_text="The option chosen for each question.")
    wrong = models.JSONField(default=list, help_text="The questions answered wrongly (from 1).")
    correct = models.BooleanField()
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "number"]
        constraints = [
            models.UniqueConstraint(fields=["participant", "number"], name="one_quiz_try_number")
        ]

    def __str__(self) -> str:
        return f"try {self.number}: {'right' if self.correct else 'wrong'}"


def all_fills() -> list[str]:
    return [f.value for f in Fill]


# A condition's on/off switches for parts of the explore page (admin, study files).
CONDITION_SWITCHES = (
    "show_model_view",
    "show_agreement",
    "show_deltas",
    "show_analysis",
    "show_edits",
)


class Condition(models.Model):
    """A between-subject condition: which parts of the explore page its participants get.
    A study without conditions shows everything."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="conditions")
    name = models.CharField(max_length=64)
    show_model_view = models.BooleanField(default=True, help_text="The Grad-CAM overlay.")
    show_agreement = models.BooleanField(
        default=True, help_text="Each round's agreement with the model's important region."
    )
    show_deltas = models.BooleanField(
        default=True, help_text="The “vs. original” and “vs. previous round” lines."
    )
    show_analysis = models.BooleanField(
        default=True, help_text="The “Compare fills and deletion curves” button."
    )
    show_edits = models.BooleanField(
        default=True, help_text="Crop, rotate and flip of the whole picture."
    )
    fills = models.JSONField(default=all_fills, help_text="The fills offered (at least one).")
    explanation_method = models.CharField(
        max_length=16,
        blank=True,
        choices=methods.CHOICES,
        help_text="The one explanation method its participants see; empty: they choose from "
        "the menu. To show none, leave the model's view out.",
    )
    task = models.CharField(
        max_length=8,
        choices=Task.choices,
        blank=True,
        help_text="What the model does for its participants (an image's own task wins); empty: "
        "classify.",
    )
    static_viewing = models.BooleanField(
        default=False,
        help_text="Static explanation viewing in place of painting: each image with the model's "
        "answer and its heatmap, no canvas.",
    )
    withdrawn_count = models.PositiveIntegerField(default=0, editable=False)

    class Meta:
        ordering = ["study", "pk"]
        constraints = [
            models.UniqueConstraint(fields=["study", "name"], name="unique_condition_name")
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def offered_fills(self) -> list[Fill]:
        """Its fills in the order of Fill (unknown names, which validation keeps out, dropped)."""
        chosen = set(self.fills or [])
        return [f for f in Fill if f.value in chosen]


class Participant(models.Model):
    """An anonymous participant of a study. Nothing exists before consent."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="participants")
    code = models.CharField(max_length=16, unique=True)
    # The browser's anonymous visitor id: one participant per browser per study, and a
    # withdrawal deletes everything that browser gave. Staff never see it.
    visitor = models.CharField(max_length=64, blank=True, editable=False)
    # From the study link: the platform's participant id (Prolific's PROLIFIC_PID, else a
    # generic ?pid=), one participant per id per study; Prolific's STUDY_ID and SESSION_ID.
    external_id = models.CharField(
        max_length=200, blank=True, help_text="PROLIFIC_PID (or ?pid=) from the link"
    )
    platform_study_id = models.CharField(
        max_length=200, blank=True, help_text="STUDY_ID from the link"
    )
    platform_session_id = models.CharField(
        max_length=200, blank=True, help_text="SESSION_ID from the link (the first visit's)"
    )
    condition = models.ForeignKey(
        Condition, null=True, blank=True, on_delete=models.PROTECT, related_name="participants"
    )
    # Random order: the participant's image order is a function of this seed (None: fixed).
    order_seed = models.PositiveBigIntegerField(null=True, blank=True)
    # The n-th consent of the study (1-based, in the transaction that picked the condition):
    # the order the randomisation saw; gaps are withdrawn participants.
    assignment_index = models.PositiveIntegerField(null=True, blank=True, editable=False)
    consent_version = models.CharField(max_length=32)
    consented_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    screened_out_at = models.DateTimeField(null=True, blank=True)
    # The platform says they returned their submission (an admin action records it).
    returned_at = models.DateTimeField(null=True, blank=True)
    closing_answer = models.TextField(blank=True)
    # A test run by staff (a preview link or `manage.py study_bots`): left out of the balance,
    # the quotas and the dashboard's counts, and marked in every exported file.
    pilot = models.BooleanField(default=False, db_index=True, editable=False)
    # The instruction pages and quiz done (onboarding.py); none: still to do, if any.
    onboarded_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-consented_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["study", "visitor"],
                condition=~models.Q(visitor=""),
                name="one_participant_per_browser",
            ),
            # Two first visits with one id at the same moment make one participant.
            models.UniqueConstraint(
                fields=["study", "external_id"],
                condition=~models.Q(external_id=""),
                name="one_participant_per_platform_id",
            ),
        ]

    def __str__(self) -> str:
        return self.code


class WithdrawnId(models.Model):
    """A platform id whose participant withdrew, as a keyed hash (like AddressTally's): the
    same link then says "you withdrew" and never asks for consent again."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    id_key = models.CharField(max_length=64)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["study", "id_key"], name="one_withdrawn_id")]

    def __str__(self) -> str:
        return "a withdrawn participant id"


class AddressTally(models.Model):
    """New participants a network address has started in a study (max_consents_per_address).
    The address is kept only as a keyed hash, apart from the participants' rows, and a
    withdrawal does not give the count back."""

    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="+")
    address_key = models.CharField(max_length=64)
    consents = models.PositiveIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["study", "address_key"], name="one_tally_per_address")
        ]

    def __str__(self) -> str:
        return f"{self.consents} from one address"


class Exploration(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    visitor = models.CharField(max_length=64, db_index=True)
    participant = models.ForeignKey(
        Participant, null=True, blank=True, on_delete=models.CASCADE, related_name="explorations"
    )
    picture = models.ForeignKey(Picture, on_delete=models.CASCADE, related_name="explorations")
    model_name = models.CharField(max_length=64)
    task = models.CharField(max_length=8, choices=Task.choices, default=Task.CLASSIFY)
    # Detect: the boxes shown from this score on (the person's slider), and the object they
    # follow (a match id of painting.detections; none: none followed).
    detection_threshold = models.FloatField(
        default=0.3, validators=[MinValueValidator(0.1), MaxValueValidator(0.95)]
    )
    followed = models.PositiveIntegerField(null=True, blank=True)
    # The client address of its latest round's request, hashed (ratelimit.client_key): a batch
    # shares the worker fairly between addresses, not only between sessions.
    client = models.CharField(max_length=16, blank=True, editable=False)
    # Grad-CAM of the original top-1 class, at the image's resolution (greyscale PNG).
    saliency = models.FileField(upload_to="explorations/", blank=True)
    # Every explanation method's map of that class, as computed: {method: stored PNG name}
    # (Grad-CAM's is `saliency`'s file), and the exploration's alignment with each: the mean of
    # its masked rounds' kept maps against the method's map ({method: alignment.scores}).
    explanations = models.JSONField(default=dict, blank=True)
    alignment = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-updated_at"]

    def __str__(self) -> str:
        return f"{self.picture} with {self.model_name}"

    @property
    def who(self) -> str:
        """Whom staff see: the participant's code, or a visitor's prefix (never a session key)."""
        if self.participant_id:
            return self.participant.code
        return f"visitor {self.visitor[:8]}"

    @property
    def folders(self) -> list[str]:
        """Where its files are stored, its rounds' and its own (as `<exploration id>/…`): they
        are deleted with it."""
        return [f"rounds/{self.pk}", f"explorations/{self.pk}"]

    @functools.cached_property
    def original_round(self) -> Round | None:
        """Round 0, the unmasked original, once it has an answer."""
        return self.rounds.filter(index=0, status=Round.Status.DONE).first()


STALE_MESSAGE = "No classifier answered this round in time. Press Retry to try again."


class RoundQuerySet(models.QuerySet):
    """Every change of a round's status, each one update of the rows named, from the states it
    may leave (Round.TRANSITIONS): web, workers, sweeper and dispatch all move rounds here."""

    def start(self) -> int:
        """Claimed by a worker: pending (or running again, redelivered) → running."""
        return self.filter(status__in=[Round.Status.PENDING, Round.Status.RUNNING]).update(
            status=Round.Status.RUNNING, started_at=timezone.now()
        )

    def answer(self, **result) -> int:
        """The model's answer → done, from any state: an answer that comes after the round was
        failed for lateness is still the model's answer, and it wins."""
        return self.update(**result, status=Round.Status.DONE, error="", finished_at=timezone.now())

    def fail(self, message: str) -> int:
        """Not answered → failed, with a message for the person (a done round stays done)."""
        return self.exclude(status=Round.Status.DONE).update(
            status=Round.Status.FAILED, error=message, finished_at=timezone.now()
        )

    def fail_stale(self) -> int:
        """Pending or running past every time limit (a lost message, a dead worker) → failed."""
        cutoff = timezone.now() - timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)
        return self.filter(
            status__in=[Round.Status.PENDING, Round.Status.RUNNING], created_at__lt=cutoff
        ).fail(STALE_MESSAGE)

    def retry(self) -> int:
        """Failed → pending again, as if just sent."""
        return self.filter(status=Round.Status.FAILED).update(
            status=Round.Status.PENDING,
            error="",
            created_at=timezone.now(),
            started_at=None,
            finished_at=None,
        )


class RoundManager(models.Manager.from_queryset(RoundQuerySet)):
    """Rounds without their brush log: it is loaded only where it is read (the export, late
    events), never to render a page. `.only(..., "strokes")` asks for it."""

    def get_queryset(self) -> models.QuerySet:
        return super().get_queryset().defer("strokes")


class Round(models.Model):
    """One Classify: the mask, the image the model saw, and what it answered.

    Round 0 of every exploration is the unmasked original."""

    FILE_FIELDS = ("mask", "masked_image", "thumbnail")

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    # The moves RoundQuerySet makes: claimed (again, when redelivered), answered (a late
    # answer too), failed, sent again. Nothing leaves done but a second answer.
    TRANSITIONS = {
        Status.PENDING: {Status.RUNNING, Status.DONE, Status.FAILED},
        Status.RUNNING: {Status.RUNNING, Status.DONE, Status.FAILED},
        Status.FAILED: {Status.PENDING, Status.DONE},
        Status.DONE: {Status.DONE},
    }

    class AnalysisStatus(models.TextChoices):
        NONE = "none", "not requested"
        PENDING = "pending"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    exploration = models.ForeignKey(Exploration, on_delete=models.CASCADE, related_name="rounds")
    index = models.PositiveIntegerField()
    fill = models.CharField(max_length=16, choices=[(f.value, f.label) for f in Fill])
    mask = models.FileField(upload_to="rounds/", blank=True)
    masked_image = models.FileField(upload_to="rounds/")
    thumbnail = models.FileField(upload_to="rounds/")
    masked_fraction = models.FloatField(default=0.0)
    # The brush and event log: stored as the browser sent it once checked (brush_log.Checked).
    strokes = models.JSONField(default=list, blank=True, encoder=brush_log.LogEncoder)
    # The log's size and counts (painting.brush_log), kept so that nothing loads it to know them.
    log_bytes = models.PositiveIntegerField(default=0)
    log_events = models.PositiveIntegerField(default=0)
    log_points = models.PositiveIntegerField(default=0)
    stored_bytes = models.PositiveBigIntegerField(default=0)  # mask and log, for the quota
    prediction = models.CharField(max_length=200, blank=True)  # participant's, before the result
    live = models.BooleanField(default=False)  # sent by itself after a stroke (the Live switch)
    client_latency_ms = models.FloatField(null=True, blank=True)  # Classify to result, as seen
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    error = models.TextField(blank=True)
    model_name = models.CharField(max_length=64, blank=True)
    weights_sha256 = models.CharField(max_length=64, blank=True)
    top = models.JSONField(default=list, blank=True)  # [{"index", "label", "probability"}]
    probabilities = models.BinaryField(null=True, blank=True)  # float32 × 1000 softmax
    # Detect: the detector's boxes, in the original picture's pixels whatever the edits
    # ([{"class_index", "label", "score", "box": [x0, y0, x1, y1]}], best first).
    detections = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # Of the model's important region (top 20% of its Grad-CAM): the share left unpainted,
    # and the IoU of the unpainted region with it.
    kept_important = models.FloatField(null=True, blank=True)
    kept_iou = models.FloatField(null=True, blank=True)
    # Its kept map against each computed explanation method's: {method: alignment.scores}.
    alignment = models.JSONField(default=dict, blank=True)
    # Other fills and deletion curves, computed on request: the state, when it was asked for,
    # and the result (fills, curves) or the error.
    analysis_status = models.CharField(
        max_length=8, choices=AnalysisStatus.choices, default=AnalysisStatus.NONE
    )
    analysis_requested_at = models.DateTimeField(null=True, blank=True)
    analysis = models.JSONField(default=dict, blank=True)
    inference_ms = models.FloatField(null=True, blank=True)  # per image, in its batch
    batch_size = models.PositiveSmallIntegerField(null=True, blank=True)
    # The worker's time per stage for the batch this round came in (ms: claim, compose,
    # preprocess, model, scores) and when it answered (answered_at, epoch seconds).
    stages = models.JSONField(default=dict, blank=True)
    # Edits of the whole picture, applied to the composed picture (painting.edits): a crop of
    # the original (in its pixels; null: none), flips, then a clockwise rotation.
    crop_left = models.PositiveIntegerField(null=True, blank=True)
    crop_top = models.PositiveIntegerField(null=True, blank=True)
    crop_width = models.PositiveIntegerField(null=True, blank=True)
    crop_height = models.PositiveIntegerField(null=True, blank=True)
    flip_horizontal = models.BooleanField(default=False)
    flip_vertical = models.BooleanField(default=False)
    rotation = models.PositiveSmallIntegerField(
        default=0, choices=[(r, f"{r}° clockwise") for r in ROTATIONS]
    )

    objects = RoundManager()

    class Meta:
        ordering = ["exploration", "index"]
        base_manager_name = "objects"
        constraints = [
            models.UniqueConstraint(fields=["exploration", "index"], name="unique_round_index")
        ]
        # The queue: the batches' candidates and the bounds on it (selectors.queued_*).
        indexes = [models.Index(fields=["status", "created_at"], name="round_queue")]

    def __str__(self) -> str:
        return f"round {self.index} of {self.exploration_id}"

    @property
    def label(self) -> str:
        return "Original image" if self.index == 0 else f"Round {self.index}"

    @property
    def edits(self) -> Edits:
        return Edits.of(self)

    @property
    def server_ms(self) -> float | None:
        """Saved to answered, on the server."""
        if not self.finished_at:
            return None
        return (self.finished_at - self.created_at).total_seconds() * 1000

    @property
    def analysis_in_flight(self) -> bool:
        """Asked for, and not longer ago than any worker could take (a lost task ends here)."""
        if self.analysis_status != self.AnalysisStatus.PENDING or not self.analysis_requested_at:
            return False
        age = timezone.now() - self.analysis_requested_at
        return age < timedelta(seconds=settings.XAI_ROUND_STALE_SECONDS)

    @property
    def is_finished(self) -> bool:
        return self.status in (self.Status.DONE, self.Status.FAILED)

    @property
    def top1(self) -> dict | None:
        return self.top[0] if self.top else None

    def probability_of(self, class_index: int) -> float | None:
        if self.probabilities is None:
            return None
        return float(np.frombuffer(bytes(self.probabilities), dtype=np.float32)[class_index])


class StudyExport(models.Model):
    """A study's data as a ZIP, built by the exports worker (never in a web process) and kept
    for staff to download until it expires or a participant withdraws (it holds their data)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="exports")
    requested_by = models.CharField(max_length=150, blank=True)
    status = models.CharField(max_length=8, choices=Status.choices, default=Status.PENDING)
    file = models.FileField(upload_to="exports/", blank=True)
    size = models.PositiveBigIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self) -> str:
        return f"export of {self.study.slug} ({self.status})"

    @property
    def file_name(self) -> str:
        return f"{self.study.slug}-export-{self.created_at:%Y%m%d-%H%M%S}.zip"


class TrialAnswer(models.Model):
    """A participant's answers to one trial of a study's understanding test (studies/understanding):
    what was shown (the options in their order) and every answer, as given."""

    participant = models.ForeignKey(
        "Participant", on_delete=models.CASCADE, related_name="trial_answers"
    )
    phase = models.CharField(max_length=4)  # "pre" or "post"
    number = models.PositiveSmallIntegerField()  # 1-based, in the study's list
    kind = models.CharField(max_length=16)
    picture = models.ForeignKey(Picture, on_delete=models.CASCADE, related_name="+")
    true_class = models.CharField(max_length=100, blank=True)
    model_answer = models.CharField(max_length=100)
    model_right = models.BooleanField(null=True)
    options = models.JSONField(help_text="The options in the order shown.")
    # Q1 (and Q2 for a distinction trial): the option chosen, its confidence (1–5), scored.
    answer_1 = models.CharField(max_length=100)
    confidence_1 = models.PositiveSmallIntegerField(null=True)
    correct_1 = models.BooleanField()
    answer_2 = models.CharField(max_length=100, blank=True)
    confidence_2 = models.PositiveSmallIntegerField(null=True)
    correct_2 = models.BooleanField(null=True)
    response_ms = models.PositiveIntegerField(null=True)
    answered_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["participant", "phase", "number"]
        constraints = [
            models.UniqueConstraint(
                fields=["participant", "phase", "number"], name="one_answer_per_trial"
            )
        ]

    def __str__(self) -> str:
        return f"{self.phase} {self.number} ({self.kind})"

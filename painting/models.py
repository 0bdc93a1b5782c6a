"""Images, explorations (one visitor × one image × one model) and their rounds."""

from __future__ import annotations

import functools
import uuid
from datetime import timedelta

import numpy as np
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MaxValueValidator, RegexValidator
from django.db import models
from django.utils import timezone

from .edits import ROTATIONS, Edits
from .inference import methods
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

    def visible_to(self, visitor: str) -> bool:
        return self.is_gallery or (bool(visitor) and self.owner == visitor)


def _fraction(value: float) -> None:
    if not 0 <= value <= 1:
        raise ValidationError("A share from 0 to 1.")


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
        help_text="A participant who fails an attention check is screened out at once (their "
        "data deleted, sent to the screened-out URL); off: the failure is only recorded.",
    )
    max_consents_per_address = models.PositiveSmallIntegerField(
        default=default_consents_per_address,
        validators=[MaxValueValidator(10_000)],
        help_text="New participants that one network address (an IPv6 /64) may start in this "
        "study; 0: no limit (e.g. a lab whose computers share one address).",
    )
    # Consents so far, withdrawn ones included: the next participant's assignment_index.
    assignment_count = models.PositiveIntegerField(default=0, editable=False)
    is_open = models.BooleanField(default=True)
    created_at = models.DateTimeField(default=timezone.now)
    # Understanding tests before the first image and after the last (understanding.py).
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


class StudyImage(models.Model):
    study = models.ForeignKey(Study, on_delete=models.CASCADE, related_name="images")
    # Only gallery photos: an upload is private to the visitor who sent it.
    picture = models.ForeignKey(
        Picture, on_delete=models.PROTECT, limit_choices_to={"is_gallery": True}
    )
    position = models.PositiveSmallIntegerField(default=0)
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
        max_length=300, blank=True, default="Paint over the red square, then press Classify."
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
    closing_answer = models.TextField(blank=True)

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

    @property
    def status(self) -> str:
        if self.screened_out_at:
            return "screened out"
        return "finished" if self.finished_at else "in progress"


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


class Round(models.Model):
    """One Classify: the mask, the image the model saw, and what it answered.

    Round 0 of every exploration is the unmasked original."""

    FILE_FIELDS = ("mask", "masked_image", "thumbnail")

    class Status(models.TextChoices):
        PENDING = "pending"
        RUNNING = "running"
        DONE = "done"
        FAILED = "failed"

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
    strokes = models.JSONField(default=list, blank=True)  # the brush and event log
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

    class Meta:
        ordering = ["exploration", "index"]
        constraints = [
            models.UniqueConstraint(fields=["exploration", "index"], name="unique_round_index")
        ]

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
    """A participant's answers to one trial of a study's understanding test (understanding.py):
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

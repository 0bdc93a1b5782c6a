"""Validation of uploads and masks, with messages meant for the person who sent them."""

from __future__ import annotations

import contextlib
import re
import threading

from django import forms
from django.conf import settings
from PIL import Image

from . import brush_log, edits, images, json_text
from .masking import Fill

MAX_MASK_BYTES = 8 * 1024 * 1024
MAX_STROKES_BYTES = brush_log.MAX_BYTES
# canvas.js nests four deep: the log, an event, a stroke's points, one [x, y, t] point.
MAX_STROKES_NESTING = 8
# Past this, a log is checked only while one of the decode slots below is free (checking a
# 2 MB log makes copies of it, and parsed it is tens of MB).
LARGE_LOG_CHARS = 64 * 1024

# The web server runs many threads in one process: however many uploads arrive at once, only
# this many are decoded at the same time (each may hold a full-size 40-megapixel picture).
_FULL_SIZE_DECODES = threading.BoundedSemaphore(settings.XAI_DECODE_CONCURRENCY)


def _check_size(what: str, size: int, limit: int) -> None:
    if size > limit:
        raise forms.ValidationError(
            f"{what} is {images.file_size(size, up=True)}; the limit is {images.file_size(limit)}."
        )


class UploadForm(forms.Form):
    image = forms.FileField(
        error_messages={"required": "Choose a JPEG, PNG or WebP photo to upload."}
    )

    def clean_image(self) -> Image.Image:
        """The upload's working copy (images.open_upload), not the full-size picture."""
        upload = self.cleaned_data["image"]
        _check_size("The file", upload.size, settings.XAI_MAX_UPLOAD_BYTES)
        try:
            # The file itself, not its bytes read into memory beside the decoded pixels.
            return images.open_upload(
                upload,
                max_pixels=settings.XAI_MAX_UPLOAD_PIXELS,
                max_side=settings.XAI_WORKING_MAX_SIDE,
                gate=_FULL_SIZE_DECODES,
            )
        except images.ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from exc

    @staticmethod
    def limits() -> str:
        return (
            f"up to {images.file_size(settings.XAI_MAX_UPLOAD_BYTES)} "
            f"and {images.megapixels(settings.XAI_MAX_UPLOAD_PIXELS)}"
        )

    def title(self) -> str:
        name = self.cleaned_data.get("image") and self.files["image"].name or "Upload"
        return name.rsplit(".", 1)[0][:200] or "Upload"


def _switch(name: str) -> forms.ChoiceField:
    return forms.ChoiceField(
        choices=[("", "off"), ("1", "on")],
        required=False,
        error_messages={"invalid_choice": f"{name} must be 1 or empty."},
    )


class MaskForm(forms.Form):
    """A painted mask as a PNG at the picture's size, a fill, and the edits of the whole
    picture (painting.edits): what a Classify sends, and what the page's preview of the
    model's picture sends (the same checks for both). cleaned_data["edits"]: an Edits."""

    mask = forms.FileField(
        error_messages={
            "required": "No mask was sent with this Classify.",
            "empty": "No mask was sent with this Classify (the file was empty).",
        }
    )
    fill = forms.ChoiceField(choices=[(f.value, f.label) for f in Fill], initial=Fill.MEAN.value)
    crop = forms.CharField(
        required=False,
        max_length=64,
        strip=False,
        error_messages={"max_length": "The crop is longer than 64 characters."},
    )
    flip_horizontal = _switch("flip_horizontal")
    flip_vertical = _switch("flip_vertical")
    rotation = forms.ChoiceField(
        choices=[("", "none")] + [(str(r), f"{r}°") for r in edits.ROTATIONS],
        required=False,
        error_messages={
            "invalid_choice": "The rotation must be one of "
            + ", ".join(map(str, edits.ROTATIONS))
            + " degrees."
        },
    )

    def __init__(
        self,
        *args,
        size: tuple[int, int],
        fills: tuple[Fill, ...] = tuple(Fill),
        edits_allowed: bool = True,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.size = size
        self.edits_allowed = edits_allowed
        # A study condition may offer fewer fills; one it does not offer is refused.
        self.fields["fill"].choices = [(f.value, f.label) for f in fills]
        self.fields["fill"].error_messages["invalid_choice"] = (
            "That fill is not offered here: choose one of "
            + ", ".join(f.label for f in fills)
            + "."
        )

    def clean_mask(self) -> Image.Image:
        upload = self.cleaned_data["mask"]
        _check_size("The mask file", upload.size, MAX_MASK_BYTES)
        try:
            mask = images.open_mask(upload, self.size)
        except images.ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from exc
        if "A" in mask.getbands():
            # Painted means bright and opaque: composite over black before thresholding.
            black = Image.new("RGBA", mask.size, (0, 0, 0, 255))
            mask = Image.alpha_composite(black, mask.convert("RGBA"))
        return mask.convert("L").point(lambda v: 255 if v >= 128 else 0)

    def clean_fill(self) -> Fill:
        return Fill(self.cleaned_data["fill"])

    def clean(self) -> dict:
        data = super().clean()
        try:
            data["edits"] = edits.Edits(
                crop=edits.parse_crop(data.get("crop") or ""),
                flip_horizontal=data.get("flip_horizontal") == "1",
                flip_vertical=data.get("flip_vertical") == "1",
                rotation=int(data.get("rotation") or 0),
            ).check(self.size)
        except edits.EditRejected as exc:
            self.add_error("crop", str(exc))
            return data
        if not self.edits_allowed and not data["edits"].is_identity:
            self.add_error(
                "crop", "Edits of the whole picture are not part of this study in your condition."
            )
        return data


class PreviewForm(MaskForm):
    """The page asking what the model would be shown for its canvas (views.preview)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.fields["mask"].error_messages = {
            "required": "No mask was sent with this preview.",
            "empty": "No mask was sent with this preview (the file was empty).",
        }


class RoundForm(MaskForm):
    """A Classify: the mask and fill (MaskForm), the strokes, a prediction, and Live."""

    strokes = forms.CharField(required=False)
    prediction = forms.CharField(required=False, max_length=200, strip=True)
    # "1" when the Live switch sent this round by itself after a stroke; empty for a click.
    live = forms.ChoiceField(
        choices=[("", "Classify"), ("1", "live")],
        required=False,
        error_messages={"invalid_choice": "live must be 1 or empty."},
    )

    def __init__(
        self,
        *args,
        segments: int = 0,
        prediction_required: bool = False,
        **kwargs,
    ):
        super().__init__(*args, **kwargs)
        self.segments = segments
        if prediction_required:
            self.fields["prediction"].required = True
            self.fields["prediction"].error_messages["required"] = (
                "Write what you expect the model to say before you press Classify."
            )

    def clean_live(self) -> bool:
        return self.cleaned_data.get("live") == "1"

    def clean_strokes(self) -> brush_log.Checked:
        """The brush log as canvas.js sends it: a list of events, a stroke's points [x, y, t].
        Parsed here only to be checked and measured (large logs a few at a time, as uploads
        are decoded), then kept as the text it came as: nothing holds it parsed while the
        round is stored and answered."""
        text = self.cleaned_data.get("strokes") or "[]"
        size = len(text) if text.isascii() else len(text.encode())  # no copy of an ASCII log
        _check_size("The brush log", size, MAX_STROKES_BYTES)
        large = len(text) > LARGE_LOG_CHARS
        with _FULL_SIZE_DECODES if large else contextlib.nullcontext():
            try:
                return brush_log.Checked(text, self._checked_size(text, size))
            finally:
                if large:
                    images.release_freed_memory()

    def _checked_size(self, text: str, size: int) -> brush_log.Size:
        # Before any parsing: each point is an array, and counting arrays outside strings is
        # a hundredth of parsing them.
        if refused := brush_log.too_many_arrays(json_text.arrays(text)):
            raise forms.ValidationError(refused)
        strokes = _parse_json(text, "The brush log", MAX_STROKES_NESTING)
        if not isinstance(strokes, list):
            raise forms.ValidationError("The brush log must be a list of strokes.")
        points = brush_log.points_of(strokes)
        if refused := brush_log.too_long(len(strokes), points):
            raise forms.ValidationError(refused)
        for event in strokes:
            if isinstance(event, dict) and event.get("type") == "region":
                self._check_region(event.get("segment"))
        return brush_log.Size(bytes=size, events=len(strokes), points=points)

    def _check_region(self, segment) -> None:
        """A Region tap names a superpixel of this picture (booleans are not ids)."""
        if isinstance(segment, bool) or not isinstance(segment, int):
            raise forms.ValidationError("A region in the brush log has no whole-number id.")
        if not 0 <= segment < self.segments:
            raise forms.ValidationError(
                f"The brush log names region {segment}, but this image has "
                f"{self.segments} regions (0 to {self.segments - 1})."
            )


class LatencyForm(forms.Form):
    """How long a round's result took to show, in ms, as the browser measured it (≤ an hour;
    Django's FloatField already refuses NaN and infinities)."""

    ms = forms.FloatField(
        min_value=0,
        max_value=3_600_000,
        error_messages={
            "required": "No latency was sent.",
            "invalid": "The latency must be a number of milliseconds.",
        },
    )


class ThresholdForm(forms.Form):
    """The detect task's threshold: boxes from this score on are shown."""

    threshold = forms.FloatField(
        min_value=0.1,
        max_value=0.95,
        error_messages={
            "required": "No threshold was sent.",
            "invalid": "The threshold must be a number from 0.1 to 0.95.",
            "min_value": "The threshold must be a number from 0.1 to 0.95.",
            "max_value": "The threshold must be a number from 0.1 to 0.95.",
        },
    )


class FollowForm(forms.Form):
    """Follow one object of a detect exploration (its id; empty: follow none), from the result
    of a round of it."""

    object = forms.IntegerField(
        required=False,
        min_value=1,
        max_value=1_000_000,
        error_messages={"invalid": "The object must be a box's number."},
    )
    round = forms.UUIDField(error_messages={"required": "No round was sent."})


LATE_EVENT_TYPES = ("blur", "focus", "hidden", "visible")
MAX_LATE_EVENTS = 100
MAX_LATE_EVENTS_BYTES = 16 * 1024
DAY_MS = 24 * 3600 * 1000


class LateEventsForm(forms.Form):
    """Attention events logged after an image's last Classify, sent as the person leaves the
    page: a JSON list of {"type": blur|focus|hidden|visible, "t": whole ms}, nothing else."""

    events = forms.CharField(
        max_length=MAX_LATE_EVENTS_BYTES,
        error_messages={
            "required": "No events were sent.",
            "max_length": f"The events are longer than {MAX_LATE_EVENTS_BYTES} characters.",
        },
    )

    def clean_events(self) -> list[dict]:
        events = _parse_json(self.cleaned_data["events"], "The events", max_nesting=2)
        if not isinstance(events, list) or not 1 <= len(events) <= MAX_LATE_EVENTS:
            raise forms.ValidationError(
                f"The events must be a list of 1 to {MAX_LATE_EVENTS} events."
            )
        for event in events:
            if (
                not isinstance(event, dict)
                or set(event) != {"type", "t"}
                or event["type"] not in LATE_EVENT_TYPES
                or not isinstance(event["t"], int)
                or isinstance(event["t"], bool)
                or not 0 <= event["t"] <= DAY_MS
            ):
                raise forms.ValidationError(
                    'Each event must be {"type": one of '
                    + ", ".join(LATE_EVENT_TYPES)
                    + ', "t": whole milliseconds from 0 to a day}.'
                )
        return events


def _parse_json(text: str, what: str, max_nesting: int):
    try:
        return json_text.parse(text, what, max_nesting)
    except json_text.Unreadable as exc:
        raise forms.ValidationError(str(exc)) from exc


def first_error(form: forms.Form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "The request was not valid."


class ClosingForm(forms.Form):
    answer = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)


_PRINTABLE = re.compile(r"[^\x00-\x1f\x7f]*")


def _platform_id(name: str) -> forms.CharField:
    return forms.CharField(
        required=False,
        max_length=200,
        strip=True,
        error_messages={
            "max_length": f"The link's {name} is longer than 200 characters.",
        },
    )


class PlatformIdsForm(forms.Form):
    """The participant's ids as a recruiting platform writes them on the study link (and the
    consent form carries them on): Prolific's PROLIFIC_PID, STUDY_ID and SESSION_ID, or a
    generic pid. PROLIFIC_PID is the participant's id where both are given."""

    PROLIFIC_PID = _platform_id("PROLIFIC_PID")
    STUDY_ID = _platform_id("STUDY_ID")
    SESSION_ID = _platform_id("SESSION_ID")
    pid = _platform_id("pid")

    def clean(self) -> dict:
        data = super().clean()
        for name, value in list(data.items()):
            if not _PRINTABLE.fullmatch(value or ""):
                self.add_error(name, f"The link's {name} holds control characters.")
        return data

    def hidden(self) -> dict[str, str]:
        """The ids that were given, to carry through the consent form."""
        return {name: value for name, value in self.cleaned_data.items() if value}

    def ids(self) -> dict[str, str]:
        """As the participant stores them."""
        data = self.cleaned_data
        return {
            "external_id": data["PROLIFIC_PID"] or data["pid"],
            "platform_study_id": data["STUDY_ID"],
            "platform_session_id": data["SESSION_ID"],
        }

"""Validation of uploads and masks, with messages meant for the person who sent them."""

from __future__ import annotations

import json

from django import forms
from django.conf import settings
from PIL import Image

from . import images
from .masking import Fill

MAX_MASK_BYTES = 8 * 1024 * 1024
MAX_STROKES_BYTES = 2 * 1024 * 1024


class UploadForm(forms.Form):
    image = forms.FileField(
        error_messages={"required": "Choose a JPEG, PNG or WebP photo to upload."}
    )

    def clean_image(self) -> Image.Image:
        upload = self.cleaned_data["image"]
        limit = settings.XAI_MAX_UPLOAD_BYTES
        if upload.size > limit:
            raise forms.ValidationError(
                f"The file is {upload.size / 1e6:.1f} MB; the limit is {limit / 1e6:.0f} MB."
            )
        try:
            return images.open_untrusted(
                upload.read(),
                formats=images.UPLOAD_FORMATS,
                max_pixels=settings.XAI_MAX_UPLOAD_PIXELS,
            )
        except images.ImageRejected as exc:
            raise forms.ValidationError(str(exc)) from exc

    def title(self) -> str:
        name = self.cleaned_data.get("image") and self.files["image"].name or "Upload"
        return name.rsplit(".", 1)[0][:200] or "Upload"


class RoundForm(forms.Form):
    """A Classify: the painted mask as a PNG at the picture's size, the fill and the strokes."""

    mask = forms.FileField(
        error_messages={
            "required": "No mask was sent with this Classify.",
            "empty": "No mask was sent with this Classify (the file was empty).",
        }
    )
    fill = forms.ChoiceField(choices=[(f.value, f.label) for f in Fill], initial=Fill.MEAN.value)
    strokes = forms.CharField(required=False)
    prediction = forms.CharField(required=False, max_length=200, strip=True)
    previous_latency_ms = forms.FloatField(required=False, min_value=0, max_value=3_600_000)

    def __init__(self, *args, size: tuple[int, int], prediction_required: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.size = size
        if prediction_required:
            self.fields["prediction"].required = True
            self.fields["prediction"].error_messages["required"] = (
                "Write what you expect the model to say before you press Classify."
            )

    def clean_mask(self) -> Image.Image:
        upload = self.cleaned_data["mask"]
        if upload.size > MAX_MASK_BYTES:
            raise forms.ValidationError("The mask file is too large.")
        try:
            mask = images.open_untrusted(
                upload.read(), formats={"PNG": "PNG"}, max_pixels=self.size[0] * self.size[1]
            )
        except images.ImageRejected as exc:
            raise forms.ValidationError(f"The mask must be a PNG image: {exc}") from exc
        if mask.size != self.size:
            raise forms.ValidationError(
                f"The mask is {mask.width}×{mask.height} pixels but the image is "
                f"{self.size[0]}×{self.size[1]}; reload the page and paint again."
            )
        if "A" in mask.getbands():
            # Painted means bright and opaque: composite over black before thresholding.
            black = Image.new("RGBA", mask.size, (0, 0, 0, 255))
            mask = Image.alpha_composite(black, mask.convert("RGBA"))
        return mask.convert("L").point(lambda v: 255 if v >= 128 else 0)

    def clean_fill(self) -> Fill:
        return Fill(self.cleaned_data["fill"])

    def clean_strokes(self) -> list:
        text = self.cleaned_data.get("strokes") or "[]"
        if len(text) > MAX_STROKES_BYTES:
            raise forms.ValidationError("The brush log is too large.")
        try:
            strokes = json.loads(text, parse_constant=_reject_constant)
        except ValueError as exc:  # JSONDecodeError, and NaN or Infinity, which JSON lacks
            raise forms.ValidationError("The brush log is not valid JSON.") from exc
        if not isinstance(strokes, list):
            raise forms.ValidationError("The brush log must be a list of strokes.")
        if _contains_nul(strokes):
            raise forms.ValidationError("The brush log contains a NUL character (\\u0000).")
        return strokes


def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _contains_nul(value) -> bool:
    """U+0000 in any string or key: PostgreSQL's jsonb cannot store it (SQLite can), so it is
    refused on both. Walked without recursion: the log may nest as deep as JSON allows."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return True
        elif isinstance(item, list):
            stack.extend(item)
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
    return False


def first_error(form: forms.Form) -> str:
    for errors in form.errors.values():
        return errors[0]
    return "The request was not valid."


class ClosingForm(forms.Form):
    answer = forms.CharField(required=False, max_length=5000, widget=forms.Textarea)

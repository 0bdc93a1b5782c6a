"""Staff review in Django admin: explorations with their rounds, studies and their export."""

from django import forms
from django.contrib import admin
from django.db import models
from django.db.models import Count, F, Max, Min, OuterRef, Q, Subquery
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.html import format_html

from . import dispatch, export_jobs
from .masking import Fill
from .models import (
    CONDITION_SWITCHES,
    CheckAnswer,
    Condition,
    Exploration,
    Participant,
    Picture,
    QuizAttempt,
    Round,
    Study,
    StudyImage,
)
from .studies import pilots, queries, rules
from .studies.understanding import trials as understanding
from .templatetags.painting_format import percent


@admin.register(Picture)
class PictureAdmin(admin.ModelAdmin):
    list_display = ["title", "is_gallery", "width", "height", "licence", "summary", "created_at"]
    list_filter = ["is_gallery"]
    search_fields = ["title", "slug", "sha256"]
    readonly_fields = ["sha256", "width", "height"]

    def has_add_permission(self, request):
        return False  # `manage.py load_gallery` and uploads make pictures, with their checks

    @admin.display(description="review")
    def summary(self, picture):
        url = reverse("painting:image-summary", args=[picture.pk])
        return format_html('<a href="{}">summary and importance map</a>', url)


def _thumbnail(url: str, alt: str) -> str:
    return format_html('<img src="{}" alt="{}" width="96">', url, alt)


class ReadOnlyAdmin(admin.ModelAdmin):
    """Saved interactions are evidence: staff look, filter, export and may delete; never edit."""

    def has_add_permission(self, request, obj=None):
        return False

    def has_change_permission(self, request, obj=None):
        return False


class ReadOnlyInline(admin.TabularInline):
    """Rows of evidence under their parent, shown as they were saved: none added or removed
    here (each sets readonly_fields = fields)."""

    extra = 0
    can_delete = False

    def has_add_permission(self, request, obj=None):
        return False


class RoundInline(ReadOnlyInline):
    model = Round
    show_change_link = False
    fields = [
        "index",
        "status",
        "seen",
        "mask_image",
        "fill",
        "masked",
        "edited",
        "answer",
        "top5",
        "prediction",
        "duration",
        "error",
    ]
    readonly_fields = fields
    ordering = ["index"]

    @admin.display(description="model saw")
    def seen(self, round_):
        args = [round_.exploration_id, round_.pk, "thumb.jpg"]
        return _thumbnail(reverse("painting:round-file", args=args), f"round {round_.index}")

    @admin.display(description="mask")
    def mask_image(self, round_):
        if not round_.mask:
            return "–"
        args = [round_.exploration_id, round_.pk, "mask.png"]
        return _thumbnail(reverse("painting:round-file", args=args), "mask")

    @admin.display(description="painted")
    def masked(self, round_):
        return percent(round_.masked_fraction)

    @admin.display(description="edits")
    def edited(self, round_):
        return round_.edits.describe() or "–"

    @admin.display(description="top-1")
    def answer(self, round_):
        top = round_.top1
        return f"{top['label']} {percent(top['probability'])}" if top else "–"

    @admin.display(description="top-5")
    def top5(self, round_):
        return ", ".join(f"{p['label']} {percent(p['probability'])}" for p in round_.top)

    @admin.display(description="server time")
    def duration(self, round_):
        return "–" if round_.server_ms is None else f"{round_.server_ms:.0f} ms"


class OutcomeFilter(admin.SimpleListFilter):
    title = "outcome"
    parameter_name = "outcome"

    def lookups(self, request, model_admin):
        return [("changed", "final class differs from the original"), ("same", "same class")]

    def queryset(self, request, queryset):
        if self.value() == "changed":
            return queryset.exclude(original_label=F("final_label"))
        if self.value() == "same":
            return queryset.filter(original_label=F("final_label"))
        return queryset


def _top1_label_of(rounds) -> Subquery:
    """The top-1 label of the first of these done rounds, as a column of each exploration."""
    done = Round.objects.filter(exploration=OuterRef("pk"), status=Round.Status.DONE)
    return Subquery(rounds(done).values("top__0__label")[:1])


@admin.register(Exploration)
class ExplorationAdmin(ReadOnlyAdmin):
    list_display = [
        "who",
        "picture",
        "model_name",
        "round_count",
        "first_activity",
        "last_activity",
        "original_class",
        "final_class",
        "replay",
    ]
    list_filter = ["picture", "participant__study", "model_name", "created_at", OutcomeFilter]
    search_fields = ["participant__code", "participant__external_id", "visitor"]
    date_hierarchy = "created_at"
    fields = ["who", "picture", "model_name", "task", "created_at", "replay"]
    readonly_fields = fields
    inlines = [RoundInline]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .select_related("picture", "participant")
            .annotate(
                rounds_total=Count("rounds"),
                first_at=Min("rounds__created_at"),
                last_at=Max("rounds__created_at"),
                original_label=_top1_label_of(lambda done: done.filter(index=0)),
                final_label=_top1_label_of(lambda done: done.order_by("-index")),
            )
        )

    @admin.display(description="who", ordering="participant__code")
    def who(self, exploration):
        return exploration.who

    @admin.display(description="rounds", ordering="rounds_total")
    def round_count(self, exploration):
        return exploration.rounds_total

    @admin.display(description="first activity", ordering="first_at")
    def first_activity(self, exploration):
        return exploration.first_at

    @admin.display(description="last activity", ordering="last_at")
    def last_activity(self, exploration):
        return exploration.last_at

    @admin.display(description="original class", ordering="original_label")
    def original_class(self, exploration):
        return exploration.original_label or ""

    @admin.display(description="final class", ordering="final_label")
    def final_class(self, exploration):
        return exploration.final_label or ""

    @admin.display(description="replay")
    def replay(self, exploration):
        url = reverse("painting:replay", args=[exploration.pk])
        return format_html('<a href="{}">replay ▶</a>', url)


class StudyImageInline(admin.StackedInline):
    """The study's images in order; any may instead be a practice image or an attention check
    (its square and thresholds below it)."""

    model = StudyImage
    extra = 1
    ordering = ["position"]
    fields = [
        ("position", "picture", "task", "is_practice", "is_attention_check"),
        "check_instruction",
        ("check_left", "check_top", "check_width", "check_height"),
        ("check_min_covered", "check_max_outside"),
    ]


class ConditionForm(forms.ModelForm):
    fills = forms.MultipleChoiceField(
        choices=[(f.value, f.label) for f in Fill],
        widget=forms.CheckboxSelectMultiple,
        initial=[f.value for f in Fill],
        help_text="The fills offered (at least one).",
    )

    class Meta:
        model = Condition
        fields = [
            "name",
            *CONDITION_SWITCHES,
            "fills",
            "explanation_method",
            "static_viewing",
            "task",
        ]


class StudyForm(forms.ModelForm):
    def clean_tests(self):
        tests, problems = understanding.check_tests(self.cleaned_data.get("tests"))
        if problems:
            raise forms.ValidationError(problems)
        return tests


class ConditionInline(admin.TabularInline):
    """Between-subject conditions: each participant gets one, least-filled first."""

    model = Condition
    form = ConditionForm
    extra = 0


@admin.action(description="Export data (ZIP)")
def export_studies(modeladmin, request, queryset):
    """Asks the exports worker for the ZIP and shows the study's exports page, which offers it
    for download once it is built (a large study takes minutes, never a web process's)."""
    if queryset.count() != 1:
        modeladmin.message_user(request, "Select one study to export.", level="error")
        return None
    study = queryset.first()
    export_jobs.request_export(study, request.user.get_username())
    return redirect("painting:study-exports", slug=study.slug)


@admin.action(description="Delete the selected studies' pilot participants (and their files)")
def delete_pilots(modeladmin, request, queryset):
    """Pilot participants (a preview, `manage.py study_bots`) go with their explorations,
    rounds and files before launch; real participants stay. Not counted as withdrawn."""
    chosen = pilots.pilots_of(queryset)
    count = chosen.count()
    rules.delete_participants(chosen)
    modeladmin.message_user(request, f"Deleted {count} pilot participant(s) and their files.")


@admin.register(Study)
class StudyAdmin(admin.ModelAdmin):
    list_display = [
        "name",
        "slug",
        "consent_version",
        "is_open",
        "participant_count",
        "declined_count",
        "link",
        "dashboard",
    ]
    prepopulated_fields = {"slug": ["name"]}
    readonly_fields = ["declined_count", "assignment_count"]
    form = StudyForm
    inlines = [StudyImageInline, ConditionInline]
    actions = [export_studies, delete_pilots]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(participants_total=Count("participants"))

    def save_related(self, request, form, formsets, change):
        super().save_related(request, form, formsets, change)
        study = form.instance
        # New tests, or new images to view statically: the analysis worker prepares them.
        changed = form.has_changed() or any(f.has_changed() for f in formsets)
        if study.tests and (changed or understanding.material_of(study) is None):
            dispatch.enqueue_test_material(study.pk)

    @admin.display(description="participants", ordering="participants_total")
    def participant_count(self, study):
        return study.participants_total

    @admin.display(description="dashboard")
    def dashboard(self, study):
        url = reverse("painting:study-dashboard", args=[study.slug])
        exports = reverse("painting:study-exports", args=[study.slug])
        preview = reverse("painting:study-preview", args=[study.slug])
        return format_html(
            '<a href="{}">live dashboard</a> · <a href="{}">exports</a> · '
            '<a href="{}" target="_blank" rel="noopener">preview as a participant</a>',
            url,
            exports,
            preview,
        )

    @admin.display(description="participant link")
    def link(self, study):
        url = reverse("painting:study", args=[study.slug])
        return format_html('<a href="{}">{}</a>', url, url)


class CheckAnswerInline(ReadOnlyInline):
    model = CheckAnswer
    fields = ["picture", "passed", "covered_share", "outside_share", "answered_at"]
    readonly_fields = fields

    @admin.display(description="of the square painted")
    def covered_share(self, answer):
        return percent(answer.covered)

    @admin.display(description="painted outside it")
    def outside_share(self, answer):
        return percent(answer.outside)


class QuizAttemptInline(ReadOnlyInline):
    model = QuizAttempt
    fields = ["number", "answers", "wrong", "correct", "answered_at"]
    readonly_fields = fields


@admin.action(description="Withdraw the selected participants (delete; count as withdrawn)")
def withdraw_participants(modeladmin, request, queryset):
    """At a participant's request (a finished one cannot withdraw by link): their data goes, and
    they are counted as withdrawn, so their condition's slot stays taken. Delete instead to
    give the slot back (a squatter on someone's id, a test run)."""
    count = queryset.count()
    rules.withdraw_participants(queryset)
    modeladmin.message_user(request, f"Withdrew {count} participant(s); their data is deleted.")


@admin.action(description="Mark as returned (the platform says they returned their submission)")
def mark_returned(modeladmin, request, queryset):
    """Prolific's "returned": recorded, and their condition's slot is given back."""
    count = rules.mark_returned(queryset)
    modeladmin.message_user(request, f"Marked {count} participant(s) as returned.")


@admin.register(Participant)
class ParticipantAdmin(ReadOnlyAdmin):
    list_display = [
        "code",
        "study",
        "external_id",
        "assignment_index",
        "condition",
        "status",
        "checks",
        "consent_version",
        "consented_at",
        "finished_at",
        "pilot",
    ]
    inlines = [CheckAnswerInline, QuizAttemptInline]
    actions = [withdraw_participants, mark_returned]

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                passed_total=Count("check_answers", filter=Q(check_answers__passed=True)),
                failed_total=Count("check_answers", filter=Q(check_answers__passed=False)),
            )
        )

    @admin.display(description="status")
    def status(self, participant):
        return queries.status_of(participant)

    @admin.display(description="attention checks")
    def checks(self, participant):
        if not participant.passed_total and not participant.failed_total:
            return "–"
        return f"{participant.passed_total} passed, {participant.failed_total} failed"

    list_filter = ["study", "condition", "consent_version", "pilot"]
    search_fields = ["code", "external_id", "platform_session_id"]

    def delete_model(self, request, obj):
        rules.delete_participants(Participant.objects.filter(pk=obj.pk))

    def delete_queryset(self, request, queryset):
        rules.delete_participants(queryset)

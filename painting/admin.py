from django.contrib import admin

from .models import Exploration, Picture, Round


@admin.register(Picture)
class PictureAdmin(admin.ModelAdmin):
    list_display = ["title", "is_gallery", "width", "height", "licence", "created_at"]
    list_filter = ["is_gallery"]
    search_fields = ["title", "slug", "sha256"]
    readonly_fields = ["sha256", "width", "height"]


class RoundInline(admin.TabularInline):
    model = Round
    extra = 0
    can_delete = False
    fields = ["index", "status", "fill", "masked_fraction", "top", "inference_ms", "error"]
    readonly_fields = fields
    ordering = ["index"]


@admin.register(Exploration)
class ExplorationAdmin(admin.ModelAdmin):
    list_display = ["picture", "model_name", "visitor", "created_at", "updated_at"]
    list_filter = ["model_name", "picture"]
    search_fields = ["visitor", "picture__title"]
    inlines = [RoundInline]

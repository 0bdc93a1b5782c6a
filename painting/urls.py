from django.urls import path

from . import detect_views, review_views, views
from .studies import onboarding_views
from .studies import views as study
from .studies.understanding import views as understanding

app_name = "painting"
urlpatterns = [
    path("review/e/<uuid:exploration_id>/", review_views.replay, name="replay"),
    path("review/images/<uuid:picture_id>/", review_views.image_summary, name="image-summary"),
    path(
        "review/images/<uuid:picture_id>/kept.png",
        review_views.importance_map,
        name="importance-map",
    ),
    path(
        "review/images/<uuid:picture_id>/explanations/<slug:model_name>/<slug:method>.png",
        review_views.image_explanation,
        name="image-explanation",
    ),
    path("review/studies/<slug:slug>/", review_views.study_dashboard, name="study-dashboard"),
    path("review/studies/<slug:slug>/preview/", review_views.study_preview, name="study-preview"),
    path("review/studies/<slug:slug>/exports/", review_views.study_exports, name="study-exports"),
    path(
        "review/exports/<uuid:export_id>/download/",
        review_views.export_download,
        name="export-download",
    ),
    path("study/<slug:slug>/", study.consent_page, name="study"),
    path("study/<slug:slug>/consent/", study.consent, name="study-consent"),
    path("study/<slug:slug>/step/<int:step>/", study.step, name="study-step"),
    path("study/<slug:slug>/intro/<int:page>/", onboarding_views.intro, name="study-intro"),
    path("study/<slug:slug>/intro/done/", onboarding_views.intro_done, name="study-intro-done"),
    path("study/<slug:slug>/quiz/", onboarding_views.quiz, name="study-quiz"),
    path("study/<slug:slug>/finish/", study.finish, name="study-finish"),
    path("study/<slug:slug>/withdraw/", study.withdraw, name="study-withdraw"),
    path("study/<slug:slug>/resume/", study.resume, name="study-resume"),
    path(
        "study/<slug:slug>/test/<str:phase>/<int:number>/",
        understanding.trial,
        name="study-trial",
    ),
    path(
        "study/<slug:slug>/test/<str:phase>/<int:number>/<int:option>.png",
        understanding.trial_image,
        name="study-trial-image",
    ),
    path(
        "study/<slug:slug>/step/<int:step>/view.png",
        understanding.static_image,
        name="study-static-image",
    ),
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("model/", views.choose_model, name="choose-model"),
    path("task/", views.choose_task, name="choose-task"),
    path("pictures/<uuid:picture_id>/explore/", views.explore_picture, name="explore-picture"),
    path("pictures/<uuid:picture_id>/<str:name>", views.picture_file, name="picture-file"),
    path("e/<uuid:exploration_id>/", views.explore, name="explore"),
    path("e/<uuid:exploration_id>/rounds/", views.classify, name="classify"),
    path("e/<uuid:exploration_id>/events/", views.late_events, name="late-events"),
    path("e/<uuid:exploration_id>/preview/", views.preview, name="preview"),
    path("e/<uuid:exploration_id>/threshold/", detect_views.threshold, name="threshold"),
    path("e/<uuid:exploration_id>/follow/", detect_views.follow, name="follow"),
    path(
        "e/<uuid:exploration_id>/boxes/<int:object_id>/view.png",
        detect_views.box_view,
        name="box-view",
    ),
    path("e/<uuid:exploration_id>/saliency.png", views.saliency, name="saliency"),
    path(
        "e/<uuid:exploration_id>/explanations/<slug:method>.png",
        views.explanation,
        name="explanation",
    ),
    path(
        "e/<uuid:exploration_id>/rounds/<uuid:round_id>/analysis/",
        views.analysis,
        name="analysis",
    ),
    path("e/<uuid:exploration_id>/rounds/<uuid:round_id>/", views.round_result, name="round"),
    path("e/<uuid:exploration_id>/rounds/<uuid:round_id>/retry/", views.retry, name="retry"),
    path(
        "e/<uuid:exploration_id>/rounds/<uuid:round_id>/latency/",
        views.latency,
        name="latency",
    ),
    path(
        "e/<uuid:exploration_id>/rounds/<uuid:round_id>/<str:name>",
        views.round_file,
        name="round-file",
    ),
]

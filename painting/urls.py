from django.urls import path

from . import views

app_name = "painting"
urlpatterns = [
    path("", views.home, name="home"),
    path("upload/", views.upload, name="upload"),
    path("pictures/<uuid:picture_id>/explore/", views.explore_picture, name="explore-picture"),
    path("pictures/<uuid:picture_id>/<str:name>", views.picture_file, name="picture-file"),
    path("e/<uuid:exploration_id>/", views.explore, name="explore"),
    path("e/<uuid:exploration_id>/rounds/", views.classify, name="classify"),
    path("e/<uuid:exploration_id>/rounds/<uuid:round_id>/", views.round_result, name="round"),
    path("e/<uuid:exploration_id>/rounds/<uuid:round_id>/retry/", views.retry, name="retry"),
    path(
        "e/<uuid:exploration_id>/rounds/<uuid:round_id>/<str:name>",
        views.round_file,
        name="round-file",
    ),
]

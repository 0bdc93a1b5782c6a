from django.test import Client
from django.urls import reverse

from painting.models import Exploration
from tests.helpers import start


def test_it_shows_the_gallery_with_sources_and_licences(client, gallery):
    response = client.get(reverse("painting:home"))
    body = response.content.decode()
    assert response.status_code == 200
    for title in ("Coffee", "Chelsea the cat", "Falcon 9 launch"):
        assert title in body
    assert "CC0" in body and "Public domain" in body
    assert "EfficientNet-Lite2" in body


def test_it_lists_my_explorations_and_not_anyone_elses(client, gallery, on_commit):
    mine = start(client, gallery["coffee"], on_commit)
    from django.test import Client

    other = Client()
    theirs = start(other, gallery["chelsea"], on_commit)
    body = client.get(reverse("painting:home")).content.decode()
    assert reverse("painting:explore", args=[mine.pk]) in body
    assert reverse("painting:explore", args=[theirs.pk]) not in body
    assert Exploration.objects.count() == 2


def test_it_says_how_to_fix_missing_weights(client, gallery, settings, monkeypatch, tmp_path):
    monkeypatch.setenv("XAI_WEIGHTS", str(tmp_path / "none.pth"))
    settings.XAI_MODEL = "resnet50"
    body = client.get(reverse("painting:home")).content.decode()
    assert "No weights for resnet50" in body and "install_weights" in body
    response = client.post(reverse("painting:explore-picture", args=[gallery["coffee"].pk]))
    assert response.status_code == 503
    assert "install_weights" in response.content.decode()
    assert not Exploration.objects.exists()


def test_it_serves_static_assets_with_caching_that_never_mixes_releases(client, db, settings):
    response = client.get(reverse("painting:home"))
    assert 'src="/static/painting/canvas.js"' in response.content.decode()
    assert "script-src 'self'" in response["Content-Security-Policy"]
    settings.WHITENOISE_USE_FINDERS = True  # serve from static/ without collectstatic
    browser = Client()  # a new client: middleware built anew
    script = browser.get("/static/painting/canvas.js")
    assert script.status_code == 200 and b"import" in b"".join(script.streaming_content)
    # Modules import each other by unhashed names: scripts are asked for again each time.
    for url in ("/static/painting/canvas.js", "/static/painting/canvas/mask.js"):
        first = browser.get(url)
        assert first.status_code == 200 and first["Cache-Control"] == "no-cache"
        again = browser.get(url, headers={"If-None-Match": first["ETag"]})
        assert again.status_code == 304
    style = browser.get("/static/painting/app.css")
    assert style["Cache-Control"] == f"max-age={settings.WHITENOISE_MAX_AGE}, public"

from django.test import Client
from django.urls import reverse

from painting.models import Exploration, Picture, Round
from tests.helpers import jpeg, upload


def test_it_uploads_a_photo_and_starts_exploring_it(client, db, on_commit):
    response = upload(client, jpeg(), capture=on_commit)
    assert response.status_code == 302
    exploration = Exploration.objects.get()
    assert exploration.picture.title == "photo" and not exploration.picture.is_gallery
    assert exploration.picture.owner == exploration.visitor
    assert exploration.rounds.get().status == Round.Status.DONE
    page = client.get(response.url)
    assert page.status_code == 200 and b"<canvas" in page.content


def test_it_refuses_a_file_that_is_not_an_image(client, db):
    response = upload(client, b"GIF89a but not really", name="x.jpg")
    assert response.status_code == 400
    assert "not an image we can read" in response.content.decode()
    assert not Picture.objects.exists()


def test_it_refuses_an_oversized_file(client, db, settings):
    settings.XAI_MAX_UPLOAD_BYTES = 2048
    response = upload(client, b"x" * 3000)
    assert response.status_code == 400
    assert "The file is 2.93 KB; the limit is 2 KB." in response.content.decode()
    assert not Picture.objects.exists()


def test_it_refuses_too_many_pixels(client, db, settings):
    settings.XAI_MAX_UPLOAD_PIXELS = 10_000
    response = upload(client, jpeg((200, 200)))
    assert response.status_code == 400
    assert (
        "The image is 200×200 pixels (0.04 megapixels); the limit is 0.01 megapixels."
        in response.content.decode()
    )


def test_the_home_page_states_the_limits_as_configured(client, db, settings):
    assert "up to 20 MB and 40 megapixels" in client.get("/").content.decode()
    settings.XAI_MAX_UPLOAD_BYTES = 5 * 1024 * 1024 + 512 * 1024
    settings.XAI_MAX_UPLOAD_PIXELS = 12_500_000
    assert "up to 5.5 MB and 12.5 megapixels" in client.get("/").content.decode()


def test_it_refuses_a_missing_file(client, db):
    response = client.post(reverse("painting:upload"), {})
    assert response.status_code == 400
    assert "Choose a JPEG" in response.content.decode()


def test_an_upload_is_private_to_its_owner(client, db, on_commit):
    upload(client, jpeg(), capture=on_commit)
    picture = Picture.objects.get()
    url = reverse("painting:picture-file", args=[picture.pk, "image.png"])
    assert client.get(url).status_code == 200
    other = Client()
    assert other.get(url).status_code == 404
    assert other.post(reverse("painting:explore-picture", args=[picture.pk])).status_code == 404
    assert picture.title not in other.get(reverse("painting:home")).content.decode()

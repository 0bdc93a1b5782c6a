"""Django refuses a body over the upload limit from its headers, before anything reads it."""

from __future__ import annotations

import pytest
from django.test import Client
from django.urls import reverse

from painting.body_limit import LARGE_BODY_BYTES, LENGTH_REQUIRED_MESSAGE, too_large_message
from tests.helpers import HTMX, jpeg, upload

pytestmark = pytest.mark.django_db


class Unreadable:
    """A request body that fails the test if anything reads it."""

    def read(self, *args):
        raise AssertionError("the body was read")

    readline = read


def post_unread(client, headers=None, **meta):
    return client.generic(
        "POST",
        reverse("painting:upload"),
        content_type="multipart/form-data; boundary=big",
        headers=headers,
        **{"wsgi.input": Unreadable(), **meta},
    )


def test_it_refuses_a_body_over_the_limit_without_reading_it(client):
    response = post_unread(client, CONTENT_LENGTH=str(300 * 1024 * 1024))
    assert response.status_code == 413
    assert too_large_message() in response.content.decode()
    assert "20 MB" in too_large_message()


def test_it_tells_htmx_to_show_the_refusal_in_the_message_area(client):
    response = post_unread(client, headers=HTMX, CONTENT_LENGTH=str(300 * 1024 * 1024))
    assert response.status_code == 413
    assert response["HX-Retarget"] == "#messages"
    assert 'id="messages"' in response.content.decode()


def test_it_refuses_a_chunked_body_whose_size_it_cannot_know(client):
    response = post_unread(client, HTTP_TRANSFER_ENCODING="chunked")
    assert response.status_code == 411
    assert LENGTH_REQUIRED_MESSAGE in response.content.decode()


def test_it_lets_a_body_at_the_limit_through(client, settings):
    body = jpeg()
    settings.XAI_MAX_REQUEST_BYTES = len(body) + 1024  # the multipart wrapping fits in this
    assert upload(client, body).status_code == 302
    settings.XAI_MAX_REQUEST_BYTES = len(body)
    assert upload(client, body).status_code == 413


def test_an_address_past_its_budget_of_large_bodies_is_refused_before_reading_them(settings):
    photo = jpeg((640, 480))  # noise compresses badly: well over LARGE_BODY_BYTES
    assert len(photo) >= LARGE_BODY_BYTES
    settings.XAI_BODY_MB_PER_MINUTE_PER_ADDRESS = 2.5 * len(photo) / 2**20  # two uploads
    # Two browsers (each may have two rounds waiting) on one address.
    assert upload(Client(), photo).status_code == 302
    assert upload(Client(), photo).status_code == 302
    refused = post_unread(Client(), headers=HTMX, CONTENT_LENGTH=str(len(photo) + 500))
    assert refused.status_code == 429
    assert "uploads and brush logs this minute" in refused.content.decode()
    assert refused["HX-Retarget"] == "#messages"
    # Small bodies are not counted, and another address has its own budget.
    assert upload(Client(), jpeg((32, 32))).status_code == 302
    assert upload(Client(REMOTE_ADDR="10.0.0.9"), photo).status_code == 302

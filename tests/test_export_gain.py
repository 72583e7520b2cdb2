"""The export check's gain warning: an artifact can agree with Keras within its threshold and still lose what the
model adds over its input (full-integer int8 of the cycle-22 `nafnet`, docs/DEPLOY.md). Pure report dicts, so it
runs under both backends."""

from __future__ import annotations

import pytest

from deblur_tf.export import GAIN_KEPT_WARN, format_report_table, gain_kept, gain_warnings


def _row(fmt: str, gt: float | None, size: str = "256x256") -> dict:
    return {"format": fmt, "input_size": size, "io": "float32", "size_bytes": 1_000_000, "psnr_vs_keras_db": 60.0,
            "psnr_vs_gt_db": gt, "latency_ms": 10.0, "runtime": "test", "threshold_db": 30.0, "passed": True}


def _report(rows: list[dict], base: dict[str, float]) -> dict:
    return {"eval_count": 3, "input_vs_gt_db": base, "artifacts": rows}


def test_share_of_the_gain_is_measured_against_the_keras_row_of_the_same_size():
    report = _report(
        [_row("keras", 27.0), _row("tflite-fp16", 27.0), _row("tflite-int8", 26.25),
         _row("keras", 30.0, "512x512"), _row("tflite-int8", 29.0, "512x512")],
        {"256x256": 26.0, "512x512": 28.0})
    kept = gain_kept(report)
    assert kept[("tflite-fp16", "256x256")] == pytest.approx(1.0)
    assert kept[("tflite-int8", "256x256")] == pytest.approx(0.25)  # (26.25 - 26) / (27 - 26)
    assert kept[("tflite-int8", "512x512")] == pytest.approx(0.5)  # its own size's reference: (29 - 28) / (30 - 28)
    assert ("keras", "256x256") not in kept  # the reference is not judged against itself


def test_warning_names_only_the_artifact_that_keeps_too_little():
    report = _report([_row("keras", 27.0), _row("tflite-fp16", 26.99), _row("tflite-int8", 25.98)],
                     {"256x256": 26.0})
    lines = gain_warnings(report)
    assert len(lines) == 1
    assert lines[0].startswith("warning: tflite-int8 256x256 keeps -2% ")
    assert "25.98 dB against the input's 26.00 dB on 3 check images" in lines[0]
    assert lines[0] in format_report_table(report).splitlines()


def test_the_warning_starts_below_half_the_gain():
    at = GAIN_KEPT_WARN
    report = _report([_row("keras", 27.0), _row("tflite-int8", 26.0 + at), _row("tflite-int8-dynamic", 26.0 + at - 0.01)],
                     {"256x256": 26.0})
    assert [line.split()[1] for line in gain_warnings(report)] == ["tflite-int8-dynamic"]


def test_savedmodel_is_the_reference_when_keras_was_not_exported():
    report = _report([_row("savedmodel", 27.0), _row("tflite-int8", 26.1)], {"256x256": 26.0})
    assert gain_kept(report)[("tflite-int8", "256x256")] == pytest.approx(0.1)


@pytest.mark.parametrize("rows, base", [
    ([_row("tflite-fp32", 27.0), _row("tflite-int8", 26.0)], {"256x256": 26.0}),  # no float reference
    ([_row("keras", 26.03), _row("tflite-int8", 25.0)], {"256x256": 26.0}),  # the model itself gains ~nothing
    ([_row("keras", 27.0), _row("tflite-int8", 26.0)], {}),  # no ground truth (images without sharp pairs)
    ([_row("keras", 27.0), _row("tflite-int8", None)], {"256x256": 26.0}),
])
def test_no_share_without_a_reference_a_gain_and_a_ground_truth(rows, base):
    report = _report(rows, base)
    assert gain_kept(report) == {}
    assert gain_warnings(report) == []

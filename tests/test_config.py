import json

import pytest

from keras_voidseg.config import (
    PRESETS,
    BackboneConfig,
    HeadConfig,
    PipelineConfig,
    TrainConfig,
    get_preset,
)


def test_pipeline_config_round_trips_through_json():
    cfg = PipelineConfig(
        method="stardist",
        scheme="finetune-sequential",
        backbone=BackboneConfig(depth=3),
        head=HeadConfig(kind="stardist", n_rays=16),
        train=TrainConfig(patch_size=32, class_weights=(1.0, 2.0, 3.0)),
        has_denoiser=True,
        denoiser_backbone=BackboneConfig(depth=2),
    )
    again = PipelineConfig.from_dict(json.loads(json.dumps(cfg.to_dict())))
    assert again == cfg


def test_presets_are_faithful_where_the_paper_is_explicit():
    paper = get_preset("paper")
    assert paper.train.batch_size == 128
    assert paper.train.patch_size == 128
    assert paper.train.total_steps == 200 * 400
    assert paper.train.learning_rate == pytest.approx(4e-4)
    assert paper.backbone.base_filters == 32 and paper.backbone.kernel_size == 3
    assert paper.backbone.batch_norm
    assert paper.train.class_weights == (1.0, 1.0, 5.0)
    assert set(PRESETS) == {"paper", "cpu", "smoke"}


@pytest.mark.parametrize(
    "build, fragment",
    [
        (lambda: get_preset("gpu"), "unknown preset 'gpu'"),
        (lambda: PipelineConfig(scheme="fine"), "PipelineConfig.scheme"),
        (lambda: HeadConfig(kind="mask-rcnn"), "HeadConfig.kind"),
        (lambda: BackboneConfig(kernel_size=4), "kernel_size must be odd"),
        (lambda: TrainConfig.from_dict({"lr": 1}), "unknown key(s) ['lr']"),
    ],
)
def test_bad_config_values_raise_clear_errors(build, fragment):
    with pytest.raises(ValueError) as err:
        build()
    assert fragment in str(err.value)

"""The pipelines shipped in ``zoo/`` load offline and reproduce their published test scores.

Each shipped pipeline was trained by ``kvs train`` on the synthetic BBBC004-like data and
stored (float16 weights where predictions did not change).  Its data are regenerated here
from the folder's metadata (same generator, seed, noise and split), its test split is
predicted again, and the AP counts / SEG / PSNR must equal the numbers in ``metrics.json``
and in the catalog: this catches a wrong weight file, a lossy storage format, or a change
in the code that silently alters shipped predictions.  Also checks ``float16`` compaction.
"""

import json

import numpy as np
import pytest

import zoo

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from keras_voidseg.compact import compact_pipeline, weights_to_float16  # noqa: E402
from keras_voidseg.experiment import prepare_data  # noqa: E402
from keras_voidseg.hub import load_pretrained  # noqa: E402
from keras_voidseg.pipeline import score_labels  # noqa: E402
from keras_voidseg.workflow import denoising_scores  # noqa: E402

SHIPPED = [entry for entry in zoo.load_catalog() if entry.shipped]


def test_the_zoo_ships_the_default_pipelines():
    kinds = {(e.method, e.scheme) for e in SHIPPED}
    assert {("n2v", "denoiser"), ("stardist", "baseline"), ("stardist", "sequential"), ("unet", "baseline"),
            ("unet", "finetune-sequential")} <= kinds
    assert all(set(e.metrics) == {"ap", "seg"} for e in SHIPPED if e.method != "n2v")
    assert sum(e.size_bytes for e in SHIPPED) < 16 * 2**20  # checkpoints (train/) are never shipped


@pytest.fixture(scope="module")
def cpu_data():
    cache = {}

    def get(meta):
        key = (meta["noise"], meta["seed"], tuple(meta["image_shape"]), meta["n_images"])
        if key not in cache:
            cache[key] = prepare_data("synthetic", meta["noise"], seed=meta["seed"],
                                      n_images=meta["n_images"], size=meta["image_shape"][0])
        return cache[key]

    return get


@pytest.mark.parametrize("entry", SHIPPED, ids=[e.name for e in SHIPPED])
def test_shipped_pipeline_loads_offline_and_reproduces_its_scores(entry, cpu_data, monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    pipe = load_pretrained(entry.name)
    data = cpu_data(pipe.metadata["data"])
    test_raw = [data.raw[i] for i in data.splits["test"]]
    if pipe.task == "denoising":
        from keras_voidseg.schemes import denoise_images

        psnr = denoising_scores(denoise_images(pipe.denoiser, data.split_images("test")), data)["psnr"]
        assert psnr == pytest.approx(pipe.metrics["psnr"], abs=1e-3)
        return
    scores = score_labels(data.split_labels("test"), [pipe.predict_instances(x)[0] for x in test_raw])
    assert (scores["tp"], scores["fp"], scores["fn"]) == (pipe.metrics["tp"], pipe.metrics["fp"], pipe.metrics["fn"])
    assert scores["seg"] == pytest.approx(pipe.metrics["seg"], abs=1e-6)
    assert entry.metrics["ap"] == pytest.approx(scores["ap"], abs=1e-9)


def test_float16_storage_halves_weights_and_keeps_labels(tmp_path):
    from keras_voidseg.config import BackboneConfig, HeadConfig, PipelineConfig
    from keras_voidseg.pipeline import Pipeline
    from tests.model_helpers import randomise_batch_norm

    config = PipelineConfig(method="unet", backbone=BackboneConfig(depth=2, base_filters=8), head=HeadConfig())
    pipe = Pipeline.build(config, thresholds={"prob_thresh": 0.5}, metadata={"data": {"noise": 200.0}})
    randomise_batch_norm(pipe.segmenter, seed=3)
    pipe.save_pretrained(tmp_path / "f32")
    report = compact_pipeline(tmp_path / "f32", tmp_path / "f16")
    assert report["arrays"] == len(pipe.segmenter.weights)
    # two bytes saved per stored number (the rest of the file is HDF5 structure)
    n_numbers = sum(int(np.prod(w.shape)) for w in pipe.segmenter.weights)
    assert report["bytes_before"] - report["bytes_after"] >= 0.95 * 2 * n_numbers
    half = Pipeline.from_folder(tmp_path / "f16")
    for full, small in zip(pipe.segmenter.get_weights(), half.segmenter.get_weights()):
        assert small.dtype == np.float32  # computed in float32, only stored as float16
        np.testing.assert_array_equal(small, full.astype(np.float16).astype(np.float32))
    with pytest.raises(FileExistsError):
        compact_pipeline(tmp_path / "f32", tmp_path / "f16")
    assert weights_to_float16(tmp_path / "f16" / "segmenter.weights.h5") == 0  # nothing left to convert
    assert json.loads((tmp_path / "f16" / "config.json").read_text()) == json.loads(
        (tmp_path / "f32" / "config.json").read_text())

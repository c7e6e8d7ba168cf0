"""U-Net backbone and heads: shapes, channel meaning, config round trips, weight transfer,
and weights that load under the other backend."""

import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

pytestmark = pytest.mark.keras

keras = pytest.importorskip("keras")

from keras_voidseg.config import BackboneConfig, HeadConfig, PipelineConfig  # noqa: E402
from keras_voidseg.models.unet import (  # noqa: E402
    build_from_config,
    build_unet,
    check_input_shape,
    transfer_backbone_weights,
)

from model_helpers import randomise_batch_norm  # noqa: E402

TINY = BackboneConfig(depth=2, base_filters=4)


def _image(shape=(2, 16, 16, 1), seed=0):
    return np.random.default_rng(seed).normal(size=shape).astype("float32")


def test_voidseg_head_shapes_and_channels():
    model = build_unet(TINY, HeadConfig(kind="voidseg"))
    assert model.output_shape == (None, None, None, 4)
    out = keras.ops.convert_to_numpy(model(_image((2, 32, 24, 1)), training=False))
    assert out.shape == (2, 32, 24, 4) and out.dtype == np.float32
    # channels are linear: class logits may be negative and do not sum to one
    assert (out[..., :3] < 0).any()
    assert not np.allclose(out[..., :3].sum(-1), 1.0)
    assert [w.path for w in model.get_layer("head_voidseg").weights]
    assert model.get_layer("head_voidseg").get_config()["activation"] == "linear"


def test_stardist_head_shapes_and_channels():
    head = HeadConfig(kind="stardist", n_rays=8)
    model = build_unet(TINY, head)
    out = keras.ops.convert_to_numpy(model(_image((1, 16, 32, 1)), training=False))
    assert out.shape == (1, 16, 32, 9)
    prob = out[..., 0]
    assert ((prob > 0) & (prob < 1)).all()  # sigmoid
    assert model.get_layer("head_prob").get_config()["activation"] == "sigmoid"
    assert model.get_layer("head_dist").get_config()["activation"] == "linear"
    assert model.get_layer("head_stardist_features").filters == 16  # min(128, 4 * 4)


def test_stardist_grid_other_than_one_is_rejected():
    with pytest.raises(ValueError, match="grid"):
        build_unet(TINY, HeadConfig(kind="stardist", grid=2))


def test_backbone_structure_follows_config():
    bb = BackboneConfig(depth=3, base_filters=8, conv_per_level=3)
    model = build_unet(bb, HeadConfig())
    names = {layer.name for layer in model.layers}
    for i in range(3):
        for j in range(3):
            assert {f"enc{i}_conv{j}", f"enc{i}_bn{j}", f"dec{i}_conv{j}", f"dec{i}_bn{j}"} <= names
        assert model.get_layer(f"enc{i}_conv0").filters == 8 * 2**i
    assert model.get_layer("bottom_conv0").filters == 64
    assert model.get_layer("enc0_conv0").kernel_size == (3, 3)
    assert not any(type(layer).__name__ == "Lambda" for layer in model.layers)
    no_bn = build_unet(bb.replace(batch_norm=False), HeadConfig())
    assert not any("_bn" in layer.name for layer in no_bn.layers)
    assert no_bn.get_layer("enc0_conv0").use_bias


def test_check_input_shape():
    bb = BackboneConfig(depth=3)
    check_input_shape((64, 128), bb)
    check_input_shape((64, 128, 1), bb)
    check_input_shape((2, 64, 128, 1), bb)
    with pytest.raises(ValueError, match=r"multiple of 2\*\*depth = 8.*\(64, 104\)"):
        check_input_shape((60, 100), bb)
    with pytest.raises(ValueError, match="input_channels=1"):
        check_input_shape((64, 64, 3), bb)
    with pytest.raises(ValueError, match="got"):
        check_input_shape((64,), bb)


def test_functional_config_round_trip_gives_identical_predictions():
    model = build_unet(TINY, HeadConfig(kind="stardist", n_rays=6))
    clone = keras.Model.from_config(model.get_config())
    assert [layer.name for layer in clone.layers] == [layer.name for layer in model.layers]
    clone.set_weights(model.get_weights())
    x = _image()
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), atol=1e-6)


def test_rebuild_from_pipeline_config_after_weight_transfer(tmp_path):
    config = PipelineConfig(method="unet", backbone=TINY, head=HeadConfig())
    model = build_from_config(config)
    randomise_batch_norm(model)  # non-trivial statistics, which must travel too
    path = tmp_path / "m.weights.h5"
    model.save_weights(path)
    rebuilt = build_from_config(PipelineConfig.from_dict(json.loads(json.dumps(config.to_dict()))))
    x = _image()
    assert not np.allclose(rebuilt.predict(x, verbose=0), model.predict(x, verbose=0))
    rebuilt.load_weights(path)
    expected = model.predict(x, verbose=0)
    assert expected.std() > 1e-2
    np.testing.assert_allclose(rebuilt.predict(x, verbose=0), expected, atol=1e-6)
    denoiser = build_from_config(config.replace(denoiser_backbone=TINY.replace(base_filters=2)),
                                 denoiser=True)
    assert denoiser.get_layer("enc0_conv0").filters == 2


def test_transfer_backbone_weights_for_finetuning():
    n2v = build_unet(TINY, HeadConfig(kind="voidseg"))
    seg = build_unet(TINY, HeadConfig(kind="stardist", n_rays=8))
    copied = transfer_backbone_weights(n2v, seg)
    expected = [layer.name for layer in n2v.layers if layer.weights and not layer.name.startswith("head_")]
    assert copied == expected and "enc0_conv0" in copied and "dec0_bn1" in copied
    for name in copied:
        for a, b in zip(n2v.get_layer(name).get_weights(), seg.get_layer(name).get_weights()):
            np.testing.assert_array_equal(a, b)
    # different widths: nothing matches by shape
    wider = build_unet(TINY.replace(base_filters=8), HeadConfig())
    assert transfer_backbone_weights(n2v, wider) == []
    # the whole voidseg network (head included) for the finetune scheme
    seg3 = build_unet(TINY, HeadConfig(kind="voidseg"))
    assert "head_voidseg" in transfer_backbone_weights(n2v, seg3, include_head=True)
    x = _image()
    np.testing.assert_allclose(seg3.predict(x, verbose=0), n2v.predict(x, verbose=0), atol=1e-6)


_OTHER_BACKEND_SCRIPT = textwrap.dedent("""
    import sys, numpy as np
    from keras_voidseg.config import BackboneConfig, HeadConfig
    from keras_voidseg.models.unet import build_unet
    import keras
    assert keras.backend.backend() == sys.argv[1], keras.backend.backend()
    head = HeadConfig(kind=sys.argv[2], n_rays=8)
    model = build_unet(BackboneConfig(depth=2, base_filters=4), head)
    model.load_weights(sys.argv[3])
    np.save(sys.argv[5], model.predict(np.load(sys.argv[4]), verbose=0))
""")


@pytest.mark.parametrize("kind", ["voidseg", "stardist"])
def test_weights_load_under_the_other_backend(tmp_path, kind):
    this = keras.backend.backend()
    other = {"tensorflow": "torch", "torch": "tensorflow"}.get(this)
    if other is None:
        pytest.skip(f"no partner backend for {this}")
    model = build_unet(TINY, HeadConfig(kind=kind, n_rays=8))
    randomise_batch_norm(model)
    model.save_weights(tmp_path / "w.weights.h5")
    x = _image((2, 32, 32, 1))
    np.save(tmp_path / "x.npy", x)
    env = {**os.environ, "KERAS_BACKEND": other, "TF_CPP_MIN_LOG_LEVEL": "3"}
    subprocess.run([sys.executable, "-c", _OTHER_BACKEND_SCRIPT, other, kind,
                    str(tmp_path / "w.weights.h5"), str(tmp_path / "x.npy"),
                    str(tmp_path / "y.npy")], check=True, env=env)
    expected = model.predict(x, verbose=0)
    assert expected.std() > 1e-2  # a live network, not a constant
    np.testing.assert_allclose(np.load(tmp_path / "y.npy"), expected, atol=1e-4, rtol=1e-5)

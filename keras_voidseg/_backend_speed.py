"""Backend-specific fast inference (the only module that imports torch/tensorflow directly).

Why this exists (measured on 2 CPU cores, depth-3 32-filter U-Net, see
``benchmarks/bench_inference.py``): under the PyTorch backend, Keras keeps tensors
channels-last (NHWC) and every ``Conv2D`` call permutes its input to NCHW, makes it
contiguous, converts it to torch's channels-last memory format and permutes the result back.
Those copies (``aten::copy_``) took about half of ``model.predict``'s time, and batch norm
ran as separate subtract/multiply/add passes.  :func:`torch_forward` instead runs the same
Keras functional graph with plain ``torch.nn.functional`` ops on NCHW tensors in torch's
channels-last memory format (what oneDNN convolutions want), with every batch norm folded
into the preceding convolution and ReLUs applied in place, under ``torch.inference_mode``.

Under TensorFlow, ``model.predict`` sets up a data adapter and a ``tf.function`` on every
call; :func:`tensorflow_forward` traces the model once in a ``tf.function`` (relaxed shapes)
and reuses it, which matters for tiled prediction with many calls.

Only the layer types the VoidSeg networks use are supported (Conv2D with stride 1 and
``same`` padding, BatchNormalization, Activation, MaxPooling2D, UpSampling2D nearest,
Concatenate, Dropout, InputLayer); anything else raises ``NotImplementedError`` and the
caller falls back to the generic Keras path.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

ForwardFn = Callable[[np.ndarray], np.ndarray]


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _activation_name(layer) -> str:
    config = layer.get_config()
    name = config.get("activation", "linear")
    if not isinstance(name, str):
        raise NotImplementedError(f"layer {layer.name}: non-string activation {name!r}")
    return name


def torch_forward(model) -> ForwardFn:
    """A callable ``float32 (B, H, W, C) numpy -> (B, H, W, K) numpy`` running ``model``
    natively in torch (see module docstring).  Raises NotImplementedError for layers it
    does not know."""
    import torch
    import torch.nn.functional as F
    from keras import layers as kl

    inputs = model.inputs
    if len(inputs) != 1 or len(model.outputs) != 1:
        raise NotImplementedError("only single-input, single-output models are supported")

    # how many layers consume each tensor (to decide what may be fused / done in place)
    consumers: dict[int, int] = {}
    producer: dict[int, object] = {}
    for layer in model.layers:
        if isinstance(layer, kl.InputLayer):
            continue
        for tensor in _as_list(layer.input):
            consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1
        producer[id(layer.output)] = layer
    for tensor in model.outputs:
        consumers[id(tensor)] = consumers.get(id(tensor), 0) + 1

    def numpy_weights(layer):
        return [np.asarray(w) for w in layer.get_weights()]

    # fold "conv -> batch norm" (conv output used only by the BN) into one conv
    conv_params: dict[str, list] = {}
    folded_bn: set[str] = set()
    for layer in model.layers:
        if isinstance(layer, kl.Conv2D):
            config = layer.get_config()
            if (tuple(config["strides"]) != (1, 1) or tuple(config["dilation_rate"]) != (1, 1)
                    or config.get("groups", 1) != 1
                    or (config["padding"] != "same" and tuple(config["kernel_size"]) != (1, 1))
                    or any(k % 2 == 0 for k in config["kernel_size"])
                    or config["data_format"] != "channels_last"):
                raise NotImplementedError(f"layer {layer.name}: unsupported Conv2D settings")
            weights = numpy_weights(layer)
            kernel = weights[0].transpose(3, 2, 0, 1)  # (kh, kw, in, out) -> (out, in, kh, kw)
            bias = weights[1] if len(weights) > 1 else np.zeros(kernel.shape[0], np.float32)
            conv_params[layer.name] = [kernel, bias]
    for layer in model.layers:
        if isinstance(layer, kl.BatchNormalization):
            source = producer.get(id(layer.input))
            if isinstance(source, kl.Conv2D) and consumers[id(layer.input)] == 1 and \
                    _activation_name(source) == "linear":
                scale, shift = _bn_affine(layer)
                kernel, bias = conv_params[source.name]
                conv_params[source.name] = [kernel * scale[:, None, None, None], bias * scale + shift]
                folded_bn.add(layer.name)

    def to_torch(array):
        return torch.from_numpy(np.ascontiguousarray(array, dtype=np.float32))

    channels_last = torch.channels_last
    activations = {
        "linear": lambda x, inplace: x,
        "relu": lambda x, inplace: torch.relu_(x) if inplace else torch.relu(x),
        "sigmoid": lambda x, inplace: torch.sigmoid_(x) if inplace else torch.sigmoid(x),
    }

    def activation(name, layer_name):
        if name not in activations:
            raise NotImplementedError(f"layer {layer_name}: unsupported activation {name!r}")
        return activations[name]

    steps = []  # (input ids, output id, fn(list of tensors) -> tensor)
    for layer in model.layers:
        if isinstance(layer, kl.InputLayer):
            continue
        ins = [id(t) for t in _as_list(layer.input)]
        own = len(ins) == 1 and consumers.get(ins[0], 0) == 1 and ins[0] != id(inputs[0])
        if isinstance(layer, kl.Conv2D):
            kernel, bias = conv_params[layer.name]
            weight = to_torch(kernel).contiguous(memory_format=channels_last)
            pad = kernel.shape[-1] // 2
            act = activation(_activation_name(layer), layer.name)

            def fn(xs, w=weight, b=to_torch(bias), p=pad, a=act):
                return a(F.conv2d(xs[0], w, b, padding=p), True)
        elif isinstance(layer, kl.BatchNormalization):
            if layer.name in folded_bn:
                def fn(xs):
                    return xs[0]
            else:
                if layer.axis not in (-1, 3):
                    raise NotImplementedError(f"layer {layer.name}: BN axis {layer.axis}")
                scale, shift = _bn_affine(layer)

                def fn(xs, s=to_torch(scale).view(1, -1, 1, 1), t=to_torch(shift).view(1, -1, 1, 1)):
                    return torch.addcmul(t, xs[0], s)
        elif isinstance(layer, kl.Activation):
            act = activation(_activation_name(layer), layer.name)

            def fn(xs, a=act, inplace=own):
                return a(xs[0], inplace)
        elif isinstance(layer, kl.MaxPooling2D):
            config = layer.get_config()
            if tuple(config["pool_size"]) != (2, 2) or tuple(config["strides"]) != (2, 2) \
                    or config["padding"] != "valid":
                raise NotImplementedError(f"layer {layer.name}: unsupported pooling settings")

            def fn(xs):
                return F.max_pool2d(xs[0], 2)
        elif isinstance(layer, kl.UpSampling2D):
            config = layer.get_config()
            if config["interpolation"] != "nearest":
                raise NotImplementedError(f"layer {layer.name}: only nearest upsampling")
            size = tuple(config["size"])

            def fn(xs, size=size):
                return F.interpolate(xs[0], scale_factor=size, mode="nearest")
        elif isinstance(layer, kl.Concatenate):
            if layer.axis not in (-1, 3):
                raise NotImplementedError(f"layer {layer.name}: concatenation axis {layer.axis}")

            def fn(xs):
                return torch.cat(xs, dim=1)
        elif isinstance(layer, kl.Dropout):
            def fn(xs):
                return xs[0]
        else:
            raise NotImplementedError(f"layer {layer.name}: type {type(layer).__name__}")
        steps.append((ins, id(layer.output), fn))

    input_id, output_id = id(inputs[0]), id(model.outputs[0])

    def forward(batch: np.ndarray) -> np.ndarray:
        batch = np.asarray(batch, dtype=np.float32)
        with torch.inference_mode():
            x = torch.from_numpy(batch).permute(0, 3, 1, 2)  # NHWC memory = channels_last NCHW
            x = x.contiguous(memory_format=channels_last)
            env = {input_id: x}
            for ins, out, fn in steps:
                env[out] = fn([env[i] for i in ins])
            y = env[output_id].permute(0, 2, 3, 1)
            return y.contiguous().numpy()

    return forward


def _bn_affine(layer) -> tuple[np.ndarray, np.ndarray]:
    """Inference-mode batch norm as ``x * scale + shift`` (per channel, float32)."""
    config = layer.get_config()
    weights = {w.path.rsplit("/", 1)[-1]: np.asarray(w) for w in layer.weights}
    mean, var = weights["moving_mean"], weights["moving_variance"]
    gamma = weights.get("gamma", np.ones_like(mean)) if config.get("scale", True) else np.ones_like(mean)
    beta = weights.get("beta", np.zeros_like(mean)) if config.get("center", True) else np.zeros_like(mean)
    scale = gamma / np.sqrt(var + config["epsilon"])
    return scale.astype(np.float32), (beta - mean * scale).astype(np.float32)


def tensorflow_forward(model) -> ForwardFn:
    """``model(x, training=False)`` traced once in a ``tf.function`` with free batch/spatial
    sizes, so repeated calls (tiles) skip ``model.predict``'s per-call set-up."""
    import tensorflow as tf

    channels = model.inputs[0].shape[-1]
    spec = tf.TensorSpec(shape=(None, None, None, channels), dtype=tf.float32)
    traced = tf.function(lambda x: model(x, training=False), input_signature=[spec])

    def forward(batch: np.ndarray) -> np.ndarray:
        return traced(tf.constant(np.asarray(batch, dtype=np.float32))).numpy()

    return forward

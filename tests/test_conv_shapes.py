"""The conv architecture derives its stages from the input shape: any size from 8x8 and any
channel count, a decoder that mirrors the encoder exactly, and -X widths for every stage."""

import pytest
import torch

from cmim_lab import data
from cmim_lab.config import TrainConfig
from cmim_lab.embeddings import embed, embedding_width
from cmim_lab.nets import build_model, conv_plan
from cmim_lab.trainer import train

# shape -> (stage channels, feature-map sides after each stage, -X widths of the decoder)
EXPECTED = {
    (1, 28, 28): ([32, 64], [28, 14, 7], [256, 64, 32]),
    (3, 28, 28): ([32, 64], [28, 14, 7], [256, 64, 32]),
    (3, 32, 32): ([32, 64], [32, 16, 8], [256, 64, 32]),
    (1, 64, 64): ([32, 64, 128], [64, 32, 16, 8], [256, 128, 64, 32]),
    (3, 64, 64): ([32, 64, 128], [64, 32, 16, 8], [256, 128, 64, 32]),
    (1, 8, 8): ([32], [8, 4], [256, 32]),
}


def _conv(shape, latent_dim=5):
    return build_model(shape, arch="conv", latent_dim=latent_dim, hidden_sizes=(), logvar_floor=-6.0)


@pytest.mark.parametrize("shape", list(EXPECTED), ids=lambda s: "x".join(map(str, s)))
def test_stages_shapes_and_informative_widths(shape):
    channels, sides, widths = EXPECTED[shape]
    plan_channels, plan_sizes = conv_plan(shape)
    assert plan_channels == channels and [h for h, _ in plan_sizes] == sides
    model = _conv(shape)
    x = torch.rand(4, *shape)
    assert model.decode(model.encode(x).mu).shape == x.shape
    hidden = model.hidden_features(model.encode(x).mu)
    assert [h.shape[1] for h in hidden] == widths == model.decoder_widths
    codes = embed(model, x, "informative")
    assert codes.shape == (4, 5 + sum(widths)) and codes.shape[1] == embedding_width(model, "informative")
    # every stage's map is pooled: the conv blocks are the mean over space of the decoder's maps
    maps = model.decode(model.encode(x).mu, return_hidden=True)[1]
    assert [m.shape[-1] for m in maps[1:]] == list(reversed(sides[1:]))


def test_28x28_keeps_the_original_layer_sizes():
    model = _conv((1, 28, 28), latent_dim=16)
    linear = [m for m in model.encoder.body if isinstance(m, torch.nn.Linear)][0]
    assert linear.in_features == 64 * 7 * 7 and linear.out_features == 256


@pytest.mark.parametrize("shape", [(1, 27, 33), (3, 224, 224)], ids=["odd-sides", "224"])
def test_odd_and_large_sizes_round_trip(shape):
    model = _conv(shape)
    x = torch.rand(2, *shape)
    assert model.decode(model.encode(x).mu).shape == x.shape


@pytest.mark.parametrize(
    "shape, message",
    [
        ((1, 7, 7), r"at least 8x8 pixels"),
        ((3, 4, 40), r"at least 8x8 pixels"),
        ((13,), r"needs images \[C, H, W\]"),
    ],
)
def test_too_small_or_flat_inputs_are_clear_errors(shape, message):
    with pytest.raises(ValueError, match=message):
        _conv(shape)


def test_mlp_stays_the_default_and_colour_sets_start_from_conv():
    assert TrainConfig().arch == "mlp" and TrainConfig.for_dataset("digits").arch == "mlp"
    assert TrainConfig.for_dataset("cifar10").arch == "conv"
    assert TrainConfig.for_dataset("colour-digits", method="mim").arch == "conv"
    assert TrainConfig.for_dataset("my-own-arrays").arch == "mlp"


def test_conv_trains_on_colour_images(fresh_cache):
    ds = data.load("colour-digits", n_train=200)
    assert ds.input_shape == (3, 16, 16) and 0 <= float(ds.x_train.min()) and float(ds.x_train.max()) <= 1
    config = TrainConfig.for_dataset("colour-digits", method="cmim", n_train=200, batch_size=50, epochs=1, latent_dim=4)
    result = train(config, ds, device="cpu", progress=False)
    assert result.history["recon_nll"].notna().all() and result.model.decoder_widths == [256, 32]

"""Real-valued features: kept as given, standardised per feature by the model with the training
split's statistics (stored in the checkpoint, undone for reconstructions), trained with a
Gaussian likelihood whose NLL matches torch.distributions.Normal."""

import math

import numpy as np
import pytest
import torch
from torch.distributions import Normal

from cmim_lab import data
from cmim_lab.checkpoint import load_model, read_checkpoint
from cmim_lab.config import TrainConfig
from cmim_lab.embeddings import reconstruct
from cmim_lab.evaluation import evaluate
from cmim_lab.likelihoods import LOG_STD_FLOOR, gaussian_nll, intensity_gaussian_nll, pixel_nll, unit_gaussian_nll
from cmim_lab.nets import build_model
from cmim_lab.trainer import train


def _features(n=120, d=6, seed=0):
    """Physical-looking features: an offset of 50, scales from 0.01 to 1000, 3 classes."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3
    x = rng.normal(size=(n, d)) + y[:, None]
    return x * np.logspace(-2, 3, d) + 50.0, y


def _config(likelihood="gaussian-fixed", **fields):
    return TrainConfig(
        **{
            "method": "cmim",
            "dataset": "feats",
            "likelihood": likelihood,
            "hidden_sizes": (32,),
            "latent_dim": 3,
            "batch_size": 32,
            "epochs": 2,
            **fields,
        }
    )


def test_float_features_are_kept_and_standardised_with_training_statistics_only():
    x, y = _features()
    x_test = x[:30] * 3.0 - 100.0  # a test split with other statistics must not move the standardisation
    ds = data.from_arrays(x, y, x_test, y[:30], name="feats")
    assert ds.real_valued and "standardise" in ds.info
    torch.testing.assert_close(ds.x_train, torch.from_numpy(x).float())  # values kept as given (float32)
    stored = x.astype(np.float32).astype(np.float64)
    torch.testing.assert_close(ds.feature_mean, torch.from_numpy(stored.mean(0)).float())
    torch.testing.assert_close(ds.feature_std, torch.from_numpy(stored.std(0)).float())
    z = ds.standardised(ds.x_train)
    torch.testing.assert_close(z.mean(0), torch.zeros(6), atol=1e-3, rtol=0)
    torch.testing.assert_close(ds.original_units(z), ds.x_train, rtol=1e-6, atol=1e-3)
    sub = data.from_arrays(x, y, x_test, y[:30], name="feats", n_train=60)  # fitted on the samples used
    torch.testing.assert_close(sub.feature_mean, sub.x_train.double().mean(0).float())


def test_constant_feature_gets_unit_std_and_images_keep_the_unit_interval():
    x, y = _features()
    x[:, 2] = 7.0
    ds = data.from_arrays(x, y, name="feats")
    assert float(ds.feature_std[2]) == 1.0
    img = data.from_arrays(np.random.default_rng(0).integers(0, 256, (40, 8, 8), dtype=np.uint8), np.arange(40) % 2)
    assert not img.real_valued and img.model_context == {} and float(img.x_train.max()) <= 1


def test_standardise_false_refuses_out_of_range_values_and_names_the_options():
    x, y = _features()
    with pytest.raises(ValueError, match=r"values in \[0, 1\] with standardise=False.*gaussian-fixed"):
        data.from_arrays(x, y, name="feats", standardise=False)
    unit = data.from_arrays(np.random.default_rng(0).random((40, 5)), np.arange(40) % 2, standardise=True)
    assert unit.real_valued


def test_standardisation_is_part_of_the_fingerprint():
    rng = np.random.default_rng(0)
    x, y = rng.random((40, 5)), np.arange(40) % 2
    plain, standardised = data.from_arrays(x, y, name="f"), data.from_arrays(x, y, name="f", standardise=True)
    assert data.fingerprint(plain) != data.fingerprint(standardised)
    assert data.fingerprint(plain) == data.fingerprint(data.from_arrays(x, y, name="f"))


@pytest.mark.parametrize("likelihood", ["bernoulli", "gaussian"])
def test_unit_interval_likelihood_on_real_features_is_a_clear_error(likelihood):
    x, y = _features()
    ds = data.from_arrays(x, y, name="feats")
    with pytest.raises(
        ValueError,
        match=rf"{likelihood}' models intensities in \[0, 1\].*gaussian-fixed.*"
        rf"gaussian-learned",
    ):
        train(_config(likelihood), ds, device="cpu", progress=False)


def test_gaussian_nll_matches_torch_normal_fixed_and_per_feature():
    torch.manual_seed(0)
    mean, x = torch.randn(5, 3, 4), torch.randn(5, 3, 4) * 2
    log_std = torch.randn(3, 4)
    ref = -Normal(mean, log_std.exp()).log_prob(x).flatten(1).sum(1)
    torch.testing.assert_close(gaussian_nll(mean, x, log_std), ref)
    torch.testing.assert_close(unit_gaussian_nll(mean, x), -Normal(mean, 1.0).log_prob(x).flatten(1).sum(1))
    torch.testing.assert_close(pixel_nll(mean, x, "gaussian-fixed"), unit_gaussian_nll(mean, x))
    pixels = torch.rand(5, 1, 4, 4)
    torch.testing.assert_close(
        intensity_gaussian_nll(mean[:, :1], pixels),
        -Normal(torch.sigmoid(mean[:, :1]), 0.1).log_prob(pixels).flatten(1).sum(1),
    )


def test_learned_variance_nll_of_the_model_matches_torch_normal():
    x, y = _features()
    ds = data.from_arrays(x, y, name="feats")
    model = _config("gaussian-learned").build_model(ds.input_shape, ds.model_context)
    with torch.no_grad():
        model.log_std.copy_(torch.linspace(-6.0, 1.0, 6))  # the lowest values sit under the floor
    z = torch.randn(7, 3)
    std = model.log_std.clamp(min=LOG_STD_FLOOR).exp()
    ref = -Normal(model.decode(z), std).log_prob(ds.standardised(ds.x_train[:7])).sum(1)
    torch.testing.assert_close(model.recon_nll(z, ds.x_train[:7], "gaussian-learned"), ref)
    assert float(model.learned_std.min()) == pytest.approx(math.exp(LOG_STD_FLOOR))
    fixed = _config("gaussian-fixed").build_model(ds.input_shape, ds.model_context)
    assert fixed.log_std is None and fixed.learned_std is None
    with pytest.raises(ValueError, match="needs a model built for it"):
        fixed.recon_nll(z, ds.x_train[:7], "gaussian-learned")
    with pytest.raises(ValueError, match="computed by its own model"):
        pixel_nll(z, z, "gaussian-learned")


@pytest.mark.parametrize("likelihood", ["gaussian-fixed", "gaussian-learned"])
def test_checkpoint_stores_the_standardisation_and_reconstructs_in_original_units(likelihood, tmp_path):
    x, y = _features()
    ds = data.from_arrays(x, y, name="feats")
    result = train(_config(likelihood, epochs=30), ds, device="cpu", checkpoint_dir=tmp_path, progress=False)
    _, meta = read_checkpoint(tmp_path)
    stored = meta["context"]["standardise"]
    assert stored == ds.model_context["standardise"]
    assert meta["data"]["standardise"].startswith("per feature")
    loaded, _ = load_model(tmp_path, result.config)
    rec = reconstruct(loaded, ds.x_test)
    torch.testing.assert_close(rec, reconstruct(result.model, ds.x_test))
    # original units: every feature's reconstructions sit at its own scale (offset 50,
    # stds from 0.01 to 1000), within a few of its stds of the training mean
    gap = ((rec.mean(0) - ds.feature_mean) / ds.feature_std).abs()
    assert float(gap.max()) < 1.0, gap
    # and training taught the decoder something: test error below the mean predictor's
    err = ((ds.standardised(rec) - ds.standardised(ds.x_test)) ** 2).mean()
    assert float(err) < 0.8 * float((ds.standardised(ds.x_test) ** 2).mean())


def test_evaluate_names_the_likelihood_a_real_valued_model_needs():
    x, y = _features()
    ds = data.from_arrays(x, y, name="feats")
    result = train(_config(epochs=1), ds, device="cpu", progress=False)
    with pytest.raises(ValueError, match="gaussian-fixed"):
        evaluate(result.model, ds, probes=("linear",), embeddings=("mean",), clustering=False)
    ev = evaluate(
        result.model, ds, probes=("linear",), embeddings=("mean",), clustering=False, likelihood="gaussian-fixed"
    )
    assert math.isfinite(ev.metrics["recon_nll"]) and math.isfinite(ev.metrics["mse"])


def test_a_malformed_standardisation_is_refused():
    with pytest.raises(ValueError, match="2 means and 2 stds for samples of shape"):
        build_model(
            (3,),
            latent_dim=2,
            hidden_sizes=(4,),
            logvar_floor=-6.0,
            likelihood="gaussian-fixed",
            context={"standardise": {"mean": [0, 0], "std": [1, 1]}},
        )
    with pytest.raises(ValueError, match="stds > 0"):
        build_model(
            (2,),
            latent_dim=2,
            hidden_sizes=(4,),
            logvar_floor=-6.0,
            likelihood="gaussian-fixed",
            context={"standardise": {"mean": [0, 0], "std": [1, 0]}},
        )


def test_infonce_views_of_real_features_keep_their_units_and_intensities_stay_as_before():
    """InfoNCE's augmentations act in standardised units on real-valued features: noise of 0.1
    of each feature's std, dropped features at their mean, nothing clipped to [0, 1] (features
    at offset 50 with stds from 0.01 to 1,000). Intensity views are the same draws as before."""
    from cmim_lab.augment import NOISE_STD, VECTOR_DROP, augment_batch
    from cmim_lab.objectives import augmented_views

    x, y = _features(n=3000)
    ds = data.from_arrays(x, y, name="feats")
    model = _config().build_model(ds.input_shape, ds.model_context)
    torch.manual_seed(0)
    views = augmented_views(model, ds.x_train, 1.0)
    for view in views:
        delta = (ds.standardised(view) - ds.standardised(ds.x_train)).numpy()
        dropped = np.isclose(ds.standardised(view).numpy(), 0.0, atol=1e-4)
        assert abs(dropped.mean() - VECTOR_DROP) < 0.02  # a dropped feature sits at its mean
        kept = delta[~dropped]
        assert abs(kept.std() - NOISE_STD) < 0.01 and abs(kept.mean()) < 0.01  # 0.1 of each feature's std
        assert float(view.min()) < -100 and float(view.max()) > 1000  # original units, not clipped
    assert not torch.equal(*views)
    images = torch.rand(16, 1, 28, 28)
    image_model = TrainConfig(dataset="mnist", hidden_sizes=(32,), latent_dim=3).build_model((1, 28, 28))
    torch.manual_seed(1)
    ours = augmented_views(image_model, images, 0.7)
    torch.manual_seed(1)
    before = augment_batch(images, 0.7), augment_batch(images, 0.7)
    for a, b in zip(ours, before):
        assert torch.equal(a, b) and float(a.min()) >= 0 and float(a.max()) <= 1


def test_infonce_on_real_features_gets_its_own_cache_entry_other_models_keep_theirs(tmp_path):
    """InfoNCE models of real features trained before the views moved to standardised units saw
    views clipped to [0, 1]: their cache key changed, so none of them is loaded for the new
    views; every other model (other methods, intensity data) keeps its key."""
    from cmim_lab import __version__
    from cmim_lab.trainer import data_salt, model_dir

    x, y = _features()
    feats = data.from_arrays(x, y, name="feats")
    pixels = data.from_arrays(np.random.default_rng(0).random((40, 1, 4, 4)), np.arange(40) % 2, name="tiny")
    for ds, method, moved in ((feats, "infonce", True), (feats, "cmim", False), (pixels, "infonce", False)):
        config = _config(method=method, dataset=ds.name, likelihood="gaussian-fixed" if ds is feats else "bernoulli")
        before = tmp_path / config.key(__version__, data_salt(ds))
        assert (model_dir(config, tmp_path, ds) != before) == moved, (method, ds.name)

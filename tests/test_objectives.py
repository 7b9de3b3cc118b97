"""The objectives against brute-force references, closed forms and torch.distributions."""

import math

import pytest
import torch
from torch.distributions import Independent, Normal, kl_divergence

from cmim_lab.config import TrainConfig
from cmim_lab.objectives import (
    METHODS,
    Objective,
    contrastive_term,
    gaussian_log_prob,
    kl_to_standard_normal,
    nt_xent,
    recon_nll,
    standard_normal_log_prob,
)


def nt_xent_reference(h1, h2, t):
    """Double loop over the 2B views, straight from the SimCLR paper."""
    z = torch.nn.functional.normalize(torch.cat([h1, h2]), dim=1).double()
    n, b = len(z), len(h1)
    total = 0.0
    for i in range(n):
        pos = (i + b) % n
        num = math.exp(float(z[i] @ z[pos]) / t)
        den = sum(math.exp(float(z[i] @ z[k]) / t) for k in range(n) if k != i)
        total += -math.log(num / den)
    return total / n


def contrastive_reference(z, t, negatives="mean"):
    zn = torch.nn.functional.normalize(z, dim=1).double()
    b = len(z)
    out = []
    for i in range(b):
        neg = [math.exp(float(zn[i] @ zn[j]) / t) for j in range(b) if j != i]
        agg = sum(neg) / len(neg) if negatives == "mean" else sum(neg)
        # log p(k=1|z_i) = 1/t - log(exp(1/t) + agg)
        out.append(-(1 / t - math.log(math.exp(1 / t) + agg)))
    return torch.tensor(out, dtype=torch.float64)


@pytest.mark.parametrize("b", [1, 2, 5, 16])
@pytest.mark.parametrize("d", [2, 8, 32])
@pytest.mark.parametrize("t", [0.1, 0.5, 1.0])
def test_nt_xent_matches_double_loop(b, d, t):
    g = torch.Generator().manual_seed(b * 100 + d)
    h1, h2 = torch.randn(b, d, generator=g), torch.randn(b, d, generator=g)
    assert float(nt_xent(h1, h2, t)) == pytest.approx(nt_xent_reference(h1, h2, t), abs=1e-5)


@pytest.mark.parametrize("b", [1, 4, 64, 256])
def test_nt_xent_collapsed_codes_give_log_2b_minus_1(b):
    h = torch.ones(b, 8)
    assert float(nt_xent(h, h, 0.1)) == pytest.approx(math.log(2 * b - 1), abs=1e-5)


def test_nt_xent_is_symmetric_and_tends_to_zero_for_identical_separated_views():
    g = torch.Generator().manual_seed(0)
    h1, h2 = torch.randn(32, 16, generator=g), torch.randn(32, 16, generator=g)
    assert float(nt_xent(h1, h2)) == pytest.approx(float(nt_xent(h2, h1)), abs=1e-6)
    eye = torch.eye(8)  # orthogonal codes, identical views: the positive wins as t -> 0
    assert float(nt_xent(eye, eye, temperature=0.01)) < 1e-10


def test_nt_xent_finite_at_low_temperature_with_large_logits():
    g = torch.Generator().manual_seed(1)
    h1 = 1e4 * torch.randn(128, 16, generator=g)
    h2 = h1 + 1e3 * torch.randn(128, 16, generator=g)
    h1.requires_grad_(True)
    loss = nt_xent(h1, h2, temperature=0.05)
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(h1.grad).all()


@pytest.mark.parametrize("b", [2, 3, 17])
@pytest.mark.parametrize("t", [0.05, 0.1, 1.0])
@pytest.mark.parametrize("negatives", ["mean", "sum"])
def test_contrastive_term_matches_reference(b, t, negatives):
    z = torch.randn(b, 6, generator=torch.Generator().manual_seed(b))
    got = contrastive_term(z, t, negatives)
    assert got.shape == (b,)
    torch.testing.assert_close(got.double(), contrastive_reference(z, t, negatives), atol=1e-5, rtol=1e-5)


def test_contrastive_term_bounds_and_batch_of_one():
    assert contrastive_term(torch.randn(1, 4)).tolist() == [0.0]
    for scale in [1e-3, 1.0, 1e3]:
        for z in [torch.randn(64, 8) * scale, torch.ones(64, 8), torch.eye(64)[:, :8]]:
            c = contrastive_term(z, 0.1)
            assert (c >= 0).all() and (c <= math.log(2) + 1e-6).all()
    # fully collapsed codes: every negative is as similar as the positive -> exactly log 2
    assert contrastive_term(torch.ones(10, 3)).tolist() == pytest.approx([math.log(2)] * 10, abs=1e-6)


def test_contrastive_mean_is_batch_size_robust_while_nt_xent_grows():
    """The mechanism behind the batch-size claim: averaged negatives do not grow with B."""
    g = torch.Generator().manual_seed(0)
    # expectation over i.i.d. codes: average 4096 samples at every batch size
    means = {
        b: float(torch.cat([contrastive_term(torch.randn(b, 16, generator=g), 0.1) for _ in range(4096 // b)]).mean())
        for b in (8, 64, 512)
    }
    assert max(means.values()) < 1.2 * min(means.values())
    nce = {
        b: float(nt_xent(torch.randn(b, 16, generator=g), torch.randn(b, 16, generator=g), 0.1)) for b in (8, 64, 512)
    }
    assert nce[8] < nce[64] < nce[512]
    assert nce[512] - nce[8] > 0.8 * (math.log(1023) - math.log(15))  # roughly log-growth
    summed = {b: float(contrastive_term(torch.randn(b, 16, generator=g), 0.1, "sum").mean()) for b in (8, 512)}
    assert summed[512] > 3 * summed[8]


def build_model(shape, **fields):
    """A fresh model for samples of ``shape``; TrainConfig's defaults for every field not given."""
    return TrainConfig(**fields).build_model(shape)


def test_log_densities_match_torch_distributions():
    g = torch.Generator().manual_seed(0)
    mu, logvar, z = torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g), torch.randn(7, 5, generator=g)
    q = Independent(Normal(mu, torch.exp(0.5 * logvar)), 1)
    p = Independent(Normal(torch.zeros(5), torch.ones(5)), 1)
    torch.testing.assert_close(gaussian_log_prob(z, mu, logvar), q.log_prob(z))
    torch.testing.assert_close(standard_normal_log_prob(z), p.log_prob(z))
    torch.testing.assert_close(kl_to_standard_normal(mu, logvar), kl_divergence(q, p))


def test_analytic_kl_matches_monte_carlo():
    mu, logvar = torch.tensor([[0.5, -1.0, 2.0]]), torch.tensor([[-1.0, 0.3, -2.0]])
    eps = torch.randn(200_000, 3, generator=torch.Generator().manual_seed(0))
    z = mu + torch.exp(0.5 * logvar) * eps
    mc = (gaussian_log_prob(z, mu, logvar) - standard_normal_log_prob(z)).mean()
    assert float(mc) == pytest.approx(float(kl_to_standard_normal(mu, logvar)), rel=0.01)


def test_bernoulli_recon_matches_torch_and_is_nonnegative():
    g = torch.Generator().manual_seed(0)
    logits, x = torch.randn(4, 1, 6, 6, generator=g), torch.rand(4, 1, 6, 6, generator=g)
    ref = torch.nn.functional.binary_cross_entropy(torch.sigmoid(logits), x, reduction="none").flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(logits, x), ref, atol=1e-4, rtol=1e-4)
    assert (recon_nll(logits, x) >= 0).all()
    xb = (x > 0.5).float()  # binary data: exactly the Bernoulli log-likelihood
    bern = torch.distributions.Bernoulli(logits=logits).log_prob(xb).flatten(1).sum(1)
    torch.testing.assert_close(recon_nll(logits, xb), -bern)


def _model_and_batch(arch="mlp", shape=(1, 28, 28), seed=0):
    torch.manual_seed(seed)
    model = build_model(shape, arch=arch, latent_dim=8, hidden_sizes=(32,), projection_dim=0)
    x = torch.rand(12, *shape)
    return model, x


def test_terms_assemble_into_the_stated_losses_with_stated_signs():
    model, x = _model_and_batch()
    eps = torch.randn(12, 8)
    post = model.encode(x)
    z = post.sample(eps)
    rec = recon_nll(model.decode(z), x).mean()
    kl = kl_to_standard_normal(post.mu, post.logvar).mean()
    logq = gaussian_log_prob(z, post.mu, post.logvar).mean()
    logp = standard_normal_log_prob(z).mean()
    con = contrastive_term(z, 0.1).mean()
    expected = {
        "vae": rec + kl,
        "cvae": rec + kl + con,
        "mim": rec - 0.5 * (logq + logp),
        "cmim": rec - 0.5 * (logq + logp) + con,
    }
    for method, loss in expected.items():
        out = Objective(method)(model, x, eps=eps)
        torch.testing.assert_close(out["loss"], loss)
        assert out["recon_nll"] >= 0
        if "kl" in out:
            assert out["kl"] >= 0
        if "log_p" in out:
            assert out["log_p"] <= -8 / 2 * math.log(2 * math.pi)
        if "contrastive" in out:
            assert 0 <= out["contrastive"] <= math.log(2)


def test_normalised_equals_sum_rescaled():
    model, x = _model_and_batch()
    eps = torch.randn(12, 8)
    n_pix, d = 28 * 28, 8
    for method in ["vae", "cvae", "mim", "cmim"]:
        s = Objective(method, reduction="sum")(model, x, eps=eps)
        n = Objective(method, reduction="normalised")(model, x, eps=eps)
        torch.testing.assert_close(n["recon_nll"], s["recon_nll"] / n_pix)
        for key in ("kl", "log_q", "log_p"):
            if key in s:
                torch.testing.assert_close(n[key], s[key] / d)
        if "contrastive" in s:
            torch.testing.assert_close(n["contrastive"], s["contrastive"])
        latent = n["kl"] if "kl" in n else -0.5 * (n["log_q"] + n["log_p"])
        torch.testing.assert_close(n["loss"], n["recon_nll"] + latent + n.get("contrastive", 0.0))


def test_weights_scale_their_terms():
    model, x = _model_and_batch()
    eps = torch.randn(12, 8)
    base = Objective("cmim")(model, x, eps=eps)
    heavy = Objective("cmim", contrastive_weight=10.0, recon_weight=0.5, latent_weight=2.0)(model, x, eps=eps)
    latent = -0.5 * (base["log_q"] + base["log_p"])
    torch.testing.assert_close(heavy["loss"], 0.5 * base["recon_nll"] + 2 * latent + 10 * base["contrastive"])


def test_infonce_terms_and_pure_simclr_setting():
    torch.manual_seed(0)
    model = build_model((1, 28, 28), method="infonce", latent_dim=8, hidden_sizes=(32,), projection_dim=4)
    x = torch.rand(12, 1, 28, 28)
    out = Objective("infonce")(model, x)
    assert set(out) == {"loss", "recon_nll", "nt_xent"}
    assert 0 <= out["nt_xent"] <= 10 and out["recon_nll"] >= 0
    torch.testing.assert_close(out["loss"], out["recon_nll"] + out["nt_xent"])
    pure = Objective("infonce", recon_weight=0)(model, x)
    assert set(pure) == {"loss", "nt_xent"}
    pure["loss"].backward()
    assert all(p.grad is None for p in model.decoder.parameters())  # decoder untouched
    assert model.projector[0].weight.grad is not None


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("arch", ["mlp", "conv"])
def test_gradients_are_finite(method, arch):
    torch.manual_seed(0)
    model = build_model((1, 28, 28), arch=arch, latent_dim=8, hidden_sizes=(32,))
    out = Objective(method)(model, torch.rand(8, 1, 28, 28))
    out["loss"].backward()
    grads = [p.grad for p in model.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_bad_arguments_raise_value_errors_that_list_valid_values():
    with pytest.raises(ValueError, match="valid methods are: vae, cvae, mim, cmim, infonce"):
        Objective("simclr")
    with pytest.raises(ValueError, match="temperature must be > 0"):
        Objective("cmim", temperature=0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        contrastive_term(torch.randn(4, 3), temperature=-1)
    with pytest.raises(ValueError, match="valid reductions are: sum, normalised"):
        Objective("mim", reduction="mean")
    with pytest.raises(ValueError, match="latent_dim must be > 0"):
        build_model((1, 28, 28), latent_dim=0)
    with pytest.raises(ValueError, match="valid negativess|valid negatives"):
        contrastive_term(torch.randn(4, 3), negatives="max")

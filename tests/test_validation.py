"""One validation module, one set of limits: the configs and the checkpoint headers check the
same bounds, and the names of 0.2 (``config.Bounds``, ``errors.check_choice``...) still work."""

import json

import pytest

from cmim_lab import checkpoint, config, errors, profiles, validation
from cmim_lab.checkpoint import HEADER_DIGEST, header_digest, read_checkpoint, save_checkpoint
from cmim_lab.config import TrainConfig
from cmim_lab.errors import CheckpointError
from cmim_lab.validation import MAX_LATENT_DIM, MAX_LAYERS, MAX_WIDTH

SHAPE = (1, 8, 8)
TINY = TrainConfig(method="vae", dataset="digits", hidden_sizes=(8,), latent_dim=2)


def test_the_names_of_0_2_are_the_validation_module_s_own():
    for name in (
        "Bounds",
        "check_bounds",
        "check_list",
        "check_names",
        "check_seeds",
        "check_text",
        "SEED",
        "WIDTH",
        "EPOCHS",
        "STEPS",
        "BATCH",
        "SAMPLES",
        "LR",
        "WEIGHT",
        "MAX_LATENT_DIM",
        "MAX_WIDTH",
        "MAX_LAYERS",
        "MAX_EPOCHS",
        "MAX_STEPS",
        "MAX_BATCH",
        "MAX_SAMPLES",
        "MAX_SEED",
        "LOGVAR_FLOOR_RANGE",
    ):
        assert getattr(config, name) is getattr(validation, name), name
    assert errors.check_choice is validation.check_choice and errors.check_positive is validation.check_positive


def test_configs_profiles_and_checkpoints_share_one_set_of_limits():
    assert TrainConfig.BOUNDS["latent_dim"] is validation.LATENT_DIM
    assert TrainConfig.BOUNDS["projection_dim"] is validation.PROJECTION_DIM
    assert profiles.StudySizes.ITEM_BOUNDS["latent_sizes"] is validation.LATENT_DIM
    assert checkpoint.MAX_HIDDEN_LAYERS == MAX_LAYERS
    assert checkpoint.MAX_DIM == validation.MAX_INPUT_DIM


@pytest.fixture
def stored(tmp_path):
    """An (untrained) tiny model's checkpoint file."""
    return save_checkpoint(
        tmp_path, TINY.build_model(SHAPE), TINY, epochs_done=0, steps_done=0, complete=True, history=[], data_info={}
    )


def _with_config(path, **changes):
    """Rewrite ``path`` with config fields of its header replaced (tensors and checksum kept),
    the header digest recomputed as a forger would, so the size checks behind it are reached."""
    from safetensors import safe_open
    from safetensors.torch import save_file

    with safe_open(str(path), framework="pt") as fh:
        meta = dict(fh.metadata())
        tensors = {k: fh.get_tensor(k) for k in fh.keys()}
    meta["config"] = json.dumps({**json.loads(meta["config"]), **changes})
    meta[HEADER_DIGEST] = header_digest(meta)
    save_file(tensors, str(path), metadata=meta)


@pytest.mark.parametrize(
    "changes, limit",
    [
        ({"latent_dim": MAX_LATENT_DIM + 1}, "an integer from 1 to 4096"),
        ({"latent_dim": 65_536}, "an integer from 1 to 4096"),  # within 0.2's header limit, beyond the config's
        ({"hidden_sizes": [8] * (MAX_LAYERS + 1)}, "to 64 values, got 65"),
        ({"hidden_sizes": [MAX_WIDTH + 1]}, "an integer from 1 to 65536"),
        ({"projection_dim": MAX_WIDTH + 1}, "an integer from 0 to 65536"),
        ({"projection_dim": -1}, "an integer from 0 to 65536"),
    ],
)
def test_a_header_beyond_the_config_bounds_is_refused_with_the_same_limit(stored, changes, limit):
    ((field, value),) = changes.items()
    with pytest.raises(ValueError, match=limit):
        TINY.replace(**{field: tuple(value) if isinstance(value, list) else value})
    _with_config(stored, **changes)
    with pytest.raises(CheckpointError, match=f"config {field}") as refused:
        read_checkpoint(stored)  # before any tensor is read or model built
    assert limit in str(refused.value.__cause__)


@pytest.mark.parametrize(
    "changes",
    [
        {"latent_dim": MAX_LATENT_DIM},
        {"hidden_sizes": [8] * MAX_LAYERS},
        {"method": "infonce", "projection_dim": MAX_WIDTH},
    ],
)
def test_a_header_at_the_limits_passes_the_header_check(stored, changes):
    _with_config(stored, **changes)
    state, meta = read_checkpoint(stored)  # the sizes pass; the weights then do not fit them
    assert meta["config"] == {**TINY.to_dict(), **changes}
    with pytest.raises(CheckpointError, match="do not fit the architecture"):
        checkpoint.load_model(stored)

"""Values that look like options (``--hidden-sizes -5,10``, ``--lr -1e-3``): argparse alone
takes them for an unknown option and says "expected one argument"; the CLI passes them to the
flag's own check, which names the flag, the value and what is valid (issue #30, item 6)."""

import pytest

from cmim_lab.cli import build_parser, main

D = ["--dataset", "digits"]


@pytest.fixture(autouse=True)
def no_work(monkeypatch):
    """Fail the test if a model starts training."""
    import cmim_lab.trainer

    def refuse(*args, **kwargs):
        raise AssertionError("work started although the input was bad")

    monkeypatch.setattr(cmim_lab.trainer, "train", refuse)


# (argv, the flag, the quoted value, what is valid)
CASES = [
    (["train", *D, "--hidden-sizes", "-5,10"], "--hidden-sizes", "-5", "an integer from 1 to"),
    (["train", *D, "--hidden-sizes", "-.5"], "--hidden-sizes", "-.5", "an integer from 1 to"),
    (["train", *D, "--lr", "-1e-3"], "--lr", "-0.001", "a finite number in (0, 10]"),
    (["train", *D, "--latent-dim", "-4"], "--latent-dim", "-4", "an integer from 1 to"),
    (["train", *D, "--logvar-floor", "-1e9"], "--logvar-floor", "-1000000000.0", "a finite number in [-20, 5]"),
    (["evaluate", *D, "--ridge-alphas", "-1,2"], "--ridge-alphas", "-1.0", "a finite number in (0, "),
    (["batch-sweep", *D, "--batch-sizes", "-32,64"], "--batch-sizes", "-32", "an integer from 1 to"),
    (["benchmark", "--datasets", "digits", "--seeds", "-1,0"], "--seeds", "-1", "an integer from 0 to"),
]


@pytest.mark.parametrize("argv, flag, value, valid", CASES)
def test_a_negative_looking_value_reaches_the_flags_own_check(argv, flag, value, valid, capsys):
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert f"argument {flag}:" in err and value in err and valid in err, err
    assert "expected one argument" not in err and "Traceback" not in err and err.count("\n") == 1


def test_a_valid_negative_value_is_accepted():
    args = build_parser().parse_args(["train", *D, "--logvar-floor", "-8.5", "--temperature", "0.5"])
    assert args.logvar_floor == -8.5
    assert build_parser().parse_args(["train", *D, "--logvar-floor", "-1e1"]).logvar_floor == -10.0


def test_a_flag_after_a_flag_is_still_a_missing_value(capsys):
    assert main(["train", *D, "--hidden-sizes", "--latent-dim", "4"]) == 2
    assert "argument --hidden-sizes: expected one argument" in capsys.readouterr().err

"""Running checked inputs through the probes of :data:`~.table.PROBES` on either backend."""

from __future__ import annotations

import time

import numpy as np
import torch

from .compute import ieee_float32
from .diagnostics import Diagnostics
from .inputs import Inputs, TorchData
from .reference import sklearn_predict
from .table import PROBES, make_probe, make_regressor


def scores(
    names, data: Inputs, cfg, score, *, device, standardise: bool, progress=None, times=None, diagnostics=None
) -> dict[str, float]:
    """{name: score(predictions [M])} for the probes ``names`` on the EvalConfig ``cfg``'s
    backend; ``progress("name score (seconds s)")`` and ``times[name] = seconds`` after each."""
    out = {}

    def done(name, pred, seconds):
        out[name] = score(pred)
        if times is not None:
            times[name] = seconds
        if progress is not None:
            progress(f"{name} {out[name]:.4f} ({seconds:.1f} s)")

    predict(names, data, cfg, device=device, standardise=standardise, diagnostics=diagnostics, done=done)
    return {name: out[name] for name in names}


def predict(
    names, data: Inputs, cfg, *, device, standardise: bool, diagnostics=None, done=None
) -> dict[str, np.ndarray]:
    """{name: predictions (numpy [M]: labels, or float64 targets)} of the probes ``names``;
    ``done(name, pred, seconds)`` after each. The torch backend computes on ``device``
    (None: the inputs' device) and runs the probes that share a torch function in one call,
    splitting its time between them; ``diagnostics`` (a :class:`Diagnostics`) is filled in."""
    preds = {}
    if cfg.backend == "sklearn":
        for name in names:
            start = time.perf_counter()
            probe = make_probe(name, cfg) if data.classification else make_regressor(name, cfg, standardise)
            preds[name] = sklearn_predict(probe, data)
            if done is not None:
                done(name, preds[name], time.perf_counter() - start)
        return preds
    diagnostics = diagnostics if diagnostics is not None else Diagnostics()
    dev = torch.device(device) if device is not None else data.device
    with ieee_float32(dev):
        fit = TorchData(data, dev)
        for name in names:
            if name in preds:  # computed together with an earlier probe
                continue
            fn = PROBES[name].torch
            shared = [n for n in names if PROBES[n].torch is fn]
            start = time.perf_counter()
            out = fn(fit, cfg, shared, standardise=standardise, diagnostics=diagnostics)
            seconds = (time.perf_counter() - start) / len(shared)
            for n in shared:
                preds[n] = fit.decode(out[n])
                if done is not None:
                    done(n, preds[n], seconds)
    return preds

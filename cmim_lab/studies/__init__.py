"""Studies: a grid of configs -> load or train -> cached evaluation -> tidy rows.

* :mod:`.engine`     -- the study engine (``run_study``, ``grid``, ``EvalTask``) every study uses;
* :mod:`.verdicts`   -- paired verdicts (holds / reverses / within noise) over seeds;
* :mod:`.curves`     -- scores along training (the budget curve);
* :mod:`.summary`    -- Z-scores and ranks across methods;
* :mod:`.benchmark`, :mod:`.sweep`, :mod:`.experiments` -- the benchmark, the batch-size
  sweep and the notebooks' comparisons, short specifications on top of the engine;
* :mod:`.claims`, :mod:`.search` -- ``cmim-lab claims``: the paper's claims and the fair search;
* :mod:`.readme_results` -- the README's larger-run results quoted beside notebook verdicts.
"""

"""What the notebooks stand on: figures and their style (:mod:`.viz`, :mod:`.figure_style`,
:mod:`.static_figures`), the latent-space explorer (:mod:`.widgets`), the notebooks'
parameters and profiles (:mod:`.params`), the runner behind ``cmim-lab notebooks``
(:mod:`.runner`) and the Jupyter kernel (:mod:`.kernel`)."""

"""``cmim-lab notebooks``: execute the notebook sequence with papermill (what ``make run``
does): ``--profile`` sets the sizes, ``--only`` picks notebooks, the executed copies go to
``--out``; exit status 1 when a notebook fails (:func:`cmim_lab.notebook.runner.run_notebooks`)."""

from __future__ import annotations

HELP = "execute the notebook sequence with papermill (what make run does)"
EXAMPLES = [
    "cmim-lab notebooks --profile smoke            # every notebook, small sizes (minutes)",
    "cmim-lab notebooks --only 0,5 --device cuda   # notebooks 00 and 05 on a GPU",
    "cmim-lab notebooks --figures                  # also refresh the committed figures/",
]


def add_arguments(p) -> None:
    """``--profile``, ``--only``, ``--out``, ``--device``, ``--kernel``, ``--figures``, ``--cell-timeout``."""
    from ..notebook.params import PROFILE_NAMES
    from ..notebook.runner import CELL_TIMEOUT, CELL_TIMEOUTS, KERNEL_NAME
    from .common import add_device_flag, add_profile_out_flag
    from .flags import bounded, choice, csv

    p.add_argument(
        "--profile",
        default="default",
        type=choice(PROFILE_NAMES, "profile"),
        help=f"sizes: one of {', '.join(PROFILE_NAMES)} -- smoke: minutes on a CPU; default: each "
        f"notebook's own sizes; full: a GPU (default default)",
    )
    p.add_argument(
        "--only",
        type=csv(distinct=True),
        default=None,
        help="notebook numbers or names, comma-separated, e.g. 0,5 or quickstart, or none = all (default none)",
    )
    add_profile_out_flag(p, "notebooks", "run folder for the executed copies")
    add_device_flag(p)
    p.add_argument(
        "--kernel",
        default=None,
        help=f"Jupyter kernel name, or none = {KERNEL_NAME} when registered for this Python (cmim-lab "
        f"kernel install), else python3 (default none)",
    )
    p.add_argument(
        "--figures",
        action="store_true",
        help="also refresh the committed figures/ (an explicit export; not with --profile smoke) "
        "(default: off, figures go to runs/figures-<profile>/)",
    )
    p.add_argument(
        "--cell-timeout",
        default=None,
        type=bounded(CELL_TIMEOUT, "--cell-timeout"),
        help="seconds one cell may run before its notebook fails, 0 = no limit, or none = the "
        "profile's: " + ", ".join(f"{k} {v or 'no limit'}" for k, v in CELL_TIMEOUTS.items()) + " (default none)",
    )


def run(args) -> int:
    """Execute the notebook sequence with papermill; 1 when a notebook failed."""
    from ..notebook.runner import run_notebooks

    return run_notebooks(
        profile=args.profile,
        only=args.only,
        out_dir=args.out,
        device=args.device,
        figures=args.figures,
        kernel=args.kernel,
        cell_timeout=args.cell_timeout,
    )

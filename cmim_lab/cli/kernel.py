"""``cmim-lab kernel install|show``: register this Python as the Jupyter kernel ``cmim-lab``
(for this user, this environment or under a prefix), or show the kernel the notebooks would
run on (:mod:`cmim_lab.notebook.runner`)."""

from __future__ import annotations

import sys

HELP = "register this Python as the Jupyter kernel 'cmim-lab' (or show the kernel in use)"
EXAMPLES = [
    "cmim-lab kernel install                # for every Jupyter of this user",
    "cmim-lab kernel install --sys-prefix   # only for this environment's Jupyter",
    "cmim-lab kernel show",
]


def add_arguments(p) -> None:
    """The action (install, show), where to install (``--user``, ``--sys-prefix``, ``--prefix``) and ``--name``."""
    from ..notebook.runner import KERNEL_NAME

    p.add_argument(
        "action",
        choices=("install", "show"),
        help="install: register this Python as the Jupyter kernel --name; show: the kernel cmim-lab "
        "notebooks would use",
    )
    where = p.add_mutually_exclusive_group()
    where.add_argument("--user", action="store_true", help="install for this user, seen by every Jupyter (the default)")
    where.add_argument(
        "--sys-prefix",
        action="store_true",
        help=f"install into this environment ({sys.prefix}), seen only by its own Jupyter (default: --user)",
    )
    where.add_argument("--prefix", default=None, help="install under this folder (default none = --user)")
    p.add_argument("--name", default=KERNEL_NAME, help=f"kernel name (default {KERNEL_NAME})")


def run(args) -> int:
    """Register the named Jupyter kernel, or show which kernel the notebooks would run on."""
    from ..notebook.runner import KERNEL_NAME, choose_kernel, install_kernel

    if args.action == "install":
        folder = install_kernel(
            user=not (args.sys_prefix or args.prefix),
            name=args.name,
            prefix=sys.prefix if args.sys_prefix else args.prefix,
        )
        print(
            f'registered the Jupyter kernel {args.name!r} ("Python ({args.name})") in {folder}\n'
            f"it runs {sys.executable}; pick it in Jupyter's kernel menu"
        )
        return 0
    name, note = choose_kernel()
    print(f"cmim-lab notebooks would run on {note}")
    if name != KERNEL_NAME:
        print("register the named kernel with: cmim-lab kernel install")
    return 0

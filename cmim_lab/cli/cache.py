"""``cmim-lab cache export|import|list|size|clear|verify``: hand the cache of trained models to a
class, and look after it.

* ``export ARCHIVE [--profile P]`` packs models and evaluations into a .tar.gz and prints the
  archive's SHA-256 (:func:`cmim_lab.cache.archive.export_cache` returns it);
* ``import ARCHIVE [--sha256 HEX]`` checks the archive (against ``HEX`` first when given) and
  unpacks it into the cache (:func:`cmim_lab.cache.archive.import_cache`);
* ``list`` / ``size``: one line per model / bytes per part of the cache;
* ``clear [--all] --yes`` deletes (without ``--yes``: shows what would go, exit status 1);
* ``verify`` re-hashes every entry (:func:`cmim_lab.cache.verify.verify_cache`), prints one line
  per entry changed since it was written, and exits 1 when there is one.
"""

from __future__ import annotations

import argparse
import re

HELP = "export, import, list, size, clear or verify the trained models (hand them to a class)"
DESCRIPTION = """\
The cache ($CMIM_LAB_CACHE, default ~/.cache/cmim_lab) holds every trained model with its
cached evaluations. Hand them to a class:

  teacher:  cmim-lab notebooks --profile default        # trains what is missing
            cmim-lab cache export models.tar.gz --profile default
  student:  cmim-lab cache import models.tar.gz         # notebooks now load instead of train

export --profile packs the models the notebooks of that profile loaded or trained with this
cache (each notebook records them when it runs; see `cmim-lab cache list`); without
--profile it packs every finished model in the cache. import checks the archive first
(manifest, SHA-256 of every file, kit/torch/scikit-learn versions, no links, no paths
outside the cache, no pickles) and writes nothing unless every check passes."""
EXAMPLES = [
    "cmim-lab cache list",
    "cmim-lab cache export models.tar.gz --profile default   # teacher",
    "cmim-lab cache import models.tar.gz                     # student",
    "cmim-lab cache clear --yes",
    "cmim-lab cache verify",
]

# one line per action: the help in `cmim-lab cache --help` and the first line of `cmim-lab cache ACTION --help`
ACTIONS = {
    "export": "pack models and evaluations into a .tar.gz archive and print its SHA-256",
    "import": "verify an archive and unpack its models into the cache",
    "list": "one line per model: config, state, evaluations, size, profiles",
    "size": "bytes per part of the cache",
    "clear": "delete the models, evaluations and profile records (asks for --yes)",
    "verify": "re-hash every model and evaluation; list those changed since written (exit status 1 if any)",
}


def sha256_hex(text: str) -> str:
    """argparse type of ``--sha256``: 64 hexadecimal digits (returned in lower case)."""
    value = text.strip()
    if not re.fullmatch(r"[0-9a-fA-F]{64}", value):
        raise argparse.ArgumentTypeError(
            f"expected a SHA-256: 64 hexadecimal digits 0-9a-f (the first word of ARCHIVE.sha256, or what "
            f"`cmim-lab cache export` printed), got {text!r} ({len(value)} characters)"
        )
    return value.lower()


def add_arguments(p) -> None:
    """The actions, each a sub-parser with its own flags (see the module docstring)."""
    from ..profiles import PROFILE_NAMES
    from .flags import choice

    actions = p.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, line in ACTIONS.items():
        long = f"{line[0].upper()}{line[1:]}." + (f"\n\n{DESCRIPTION}" if name in ("export", "import") else "")
        a = actions.add_parser(name, help=line, description=long, formatter_class=argparse.RawDescriptionHelpFormatter)
        a.set_defaults(parser=a)
        if name == "export":
            a.add_argument("archive", metavar="ARCHIVE", help="the archive to write (.tar.gz or .tgz; must not exist)")
            a.add_argument(
                "--profile",
                default=None,
                type=choice(PROFILE_NAMES, "profile"),
                help="smoke, default or full: only the models the notebooks of this profile used with "
                "this cache (recorded when they ran), or none = every finished model in the cache "
                "(default none)",
            )
        elif name == "import":
            a.add_argument("archive", metavar="ARCHIVE", help="an archive written by `cmim-lab cache export`")
            a.add_argument(
                "--sha256",
                default=None,
                metavar="HEX",
                type=sha256_hex,
                help="the SHA-256 the archive must have (64 hexadecimal digits, as export printed it); "
                "nothing is imported when it differs, or none = not checked (default none)",
            )
        elif name == "clear":
            a.add_argument(
                "--all", action="store_true", help="also delete converted datasets and downloads (default: off)"
            )
            a.add_argument("--yes", action="store_true", help="really delete (default: off, only show what would go)")


def run(args) -> int:
    """Run the cache action; 1 when ``clear`` lacks ``--yes`` or ``verify`` finds a changed entry."""
    from ..cache import archive as cache_archive
    from ..cache import index as cache_index

    if args.action == "export":
        cache_archive.export_cache(args.archive, profile=args.profile)  # its report names the SHA-256
    elif args.action == "import":
        cache_archive.import_cache(args.archive, sha256=args.sha256)
    elif args.action == "list":
        print(cache_index.listing())
    elif args.action == "size":
        print(cache_index.size_report())
    elif args.action == "verify":
        return _verify()
    elif not args.yes:
        print(cache_index.size_report())
        what = "everything above" if args.all else "models, evaluations and profiles"
        print(f"nothing removed: add --yes to delete {what}")
        return 1
    else:
        removed = cache_index.clear(everything=args.all)
        print(f"removed {', '.join(map(str, removed)) or 'nothing (already empty)'}")
    return 0


def _verify() -> int:
    """Print every entry changed since it was written (or that every entry matches); 1 if any changed."""
    from ..cache.verify import verify_cache

    changed = list(verify_cache())
    for line in changed:
        print(line)
    if not changed:
        print("every entry matches what was written")
        return 0
    print(f"{len(changed)} {'entry' if len(changed) == 1 else 'entries'} changed since written")
    return 1

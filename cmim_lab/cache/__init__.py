"""The model cache as a thing users handle: list, size and clear it (:mod:`.index`), export
it as an archive and import one (:mod:`.archive`), re-hash it to list what changed since it
was written (:mod:`.verify`). Training and evaluation write the cache
themselves (:mod:`cmim_lab.trainer`, :mod:`cmim_lab.studies.engine`)."""

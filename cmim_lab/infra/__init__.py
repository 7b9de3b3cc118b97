"""Infrastructure every layer may use: no models, no data, no science.

* :mod:`.paths`    -- the cache folder (``$CMIM_LAB_CACHE``), private-folder checks;
* :mod:`.runtime`  -- the device (``auto`` -> CUDA, MPS, CPU) and thread settings;
* :mod:`.files`    -- atomic writes, locks, JSON read/write;
* :mod:`.progress` -- progress bars that fit notebooks and terminals;
* :mod:`.tally`    -- counts of models trained and loaded in a run.
"""

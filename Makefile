# The two commands of the README: `make book` and `make test`.
# Each creates the virtual environment in .venv when it is missing (or when
# pyproject.toml changed), so a fresh machine needs nothing but Python 3.10+.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
PRESET ?= quick
JOBS ?= 2

.PHONY: env book test bench clean-book

env: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

# Fetch (or verify) the data sets, execute every chapter with $(PRESET) ($(JOBS) at a time,
# sharing the CPU cores), build book/_build/html.
book: env
	$(BIN)/lmc data fetch mnist fashion_mnist
	$(BIN)/lmc book --preset $(PRESET) --jobs $(JOBS)

# The whole test suite (CI runs exactly this through .ci/run).
test: env
	$(BIN)/lmc data fetch mnist fashion_mnist
	$(BIN)/python -m pytest

# Every benchmark, each printing its side-by-side figures (about 10 minutes on 2 CPU cores).
bench: env
	cd benchmarks && ../$(BIN)/python data_loading.py
	cd benchmarks && ../$(BIN)/python population.py --members 18 6
	cd benchmarks && ../$(BIN)/python interpolation.py --models lenet_300_100
	cd benchmarks && ../$(BIN)/python interpolation.py --models fmnist_resnet_20_4 --alphas 11 --rounds 1
	cd benchmarks && ../$(BIN)/python train_speed.py --steps 100 --only lenet_300_100 fmnist_resnet_20_4 cifar_resnet_20
	cd benchmarks && ../$(BIN)/python checkpoint_overhead.py
	cd benchmarks && ../$(BIN)/python parallel_jobs.py

# Remove the rendered book and the executed chapter copies (results and the run cache stay).
clean-book:
	rm -rf book/_build book/chapters

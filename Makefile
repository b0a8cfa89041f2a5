# equihls: `make demo` and `make test` are the only commands a newcomer needs (both install first).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
DEMO_MODEL   := models/deepsets_pairs/deepsets_pairs.onnx
DEMO_SAMPLES := models/deepsets_pairs/samples.npz
DEMO_DIR     := hls_projects/deepsets_pairs_vu9p
DEMO_INPUT   := ap_fixed<18,12,AP_RND,AP_SAT>
# Pythia 8 + FastJet top/QCD jets (14 TeV, anti-kT R=0.8, pT 550-650 GeV, 16 constituents)
JETS_PER_CLASS ?= 5000
DATA         := data/pythia_jets_16.npz

.PHONY: install test test-fast lint demo clean benchmark data evaluate keras-model fuzz

install: $(STAMP)

# torch first (the CPU wheel), so nothing pulls a CUDA build; then the pinned requirements and the
# peer libraries (e3nn, L-GATr) the peer-library suite tests against.
$(STAMP): requirements.txt requirements-peer.txt pyproject.toml
	@command -v g++ >/dev/null || (echo "g++ is required: sudo apt-get install -y g++" && exit 1)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q torch==2.13.0
	$(PY) -m pip install -q -r requirements.txt -r requirements-peer.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $(STAMP)

# Test tiers (markers in pyproject.toml; tests/conftest.py fails a test that runs g++ or yosys
# unmarked). `make test` is the whole suite, serial by default: on the shared 2-core machine two
# pytest-xdist workers were slower (each also compiles the session fixtures again); TEST_JOBS=2 (or
# auto) on an idle machine with more cores. `make test-fast` leaves out every compile/C-sim (gxx),
# the RTL cross-check (yosys) and the slow tests: under a minute, no g++.
TEST_JOBS ?= 0
FAST_TIER := not slow and not gxx and not yosys
test: install
	$(PY) -m pytest -q -n $(TEST_JOBS)

test-fast: install
	$(PY) -m pytest -q -m "$(FAST_TIER)"

# ruff (configuration in pyproject.toml: E, F, W, lines <= 120; no formatter)
lint: install
	$(PY) -m ruff check .

# the property-based fuzz test with many more examples than CI's (tests/test_fuzz.py; ~15 s each)
FUZZ_EXAMPLES ?= 200
FUZZ_SEED     ?= 12
fuzz: install
	EQUIHLS_FUZZ_EXAMPLES=$(FUZZ_EXAMPLES) EQUIHLS_FUZZ_SEED=$(FUZZ_SEED) $(PY) -m pytest -q tests/test_fuzz.py

demo: install
	$(VENV)/bin/equihls compile $(DEMO_MODEL) --target vu9p --input-type '$(DEMO_INPUT)' --samples $(DEMO_SAMPLES) -o $(DEMO_DIR)
	$(VENV)/bin/equihls csim $(DEMO_DIR) --input $(DEMO_SAMPLES):x -o $(DEMO_DIR)/csim_logits.npy
	$(VENV)/bin/equihls check $(DEMO_DIR)
	$(VENV)/bin/equihls report $(DEMO_DIR)

data: install
	$(PY) -m models.data.pythia_jets --n-per-class $(JETS_PER_CLASS) --n-const 16 --seed 1 --out $(DATA)

# every reference model: compile (card options), float vs C-sim on the full Pythia test set,
# models/*/metrics_csim*.json + roc.png; generates data/pythia_top16_*.npz first if missing (~3 min)
evaluate: install
	$(PY) -m pip install -q matplotlib==3.11.2
	$(PY) -m models.evaluate --write

# the Keras 3 / TensorFlow route (models/deepsets_keras): its own venv, since TensorFlow 2.21 pins
# h5py<3.15 below requirements.txt's; retrains and re-exports deepsets_keras.onnx
KERAS_VENV := .venv-keras
keras-model: install
	$(PY) -c "from models.common import load_pythia_jets as l; l('train'); l('test')"
	test -x $(KERAS_VENV)/bin/python || $(PYTHON) -m venv $(KERAS_VENV)
	$(KERAS_VENV)/bin/pip install -q -r requirements-keras.txt
	$(KERAS_VENV)/bin/python models/deepsets_keras/train.py

benchmark: install
	$(PY) benchmarks/bench_compile.py
	$(PY) benchmarks/bench_check.py
	$(PY) benchmarks/bench_cg.py
	$(PY) benchmarks/bench_estimates.py
	$(PY) benchmarks/bench_scaling.py
	$(PY) benchmarks/bench_rtl_crosscheck.py
	$(PY) benchmarks/bench_input_grid.py

clean:
	rm -rf $(VENV) hls_projects/*/ .pytest_cache

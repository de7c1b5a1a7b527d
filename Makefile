# edge-anonymize — every job a user runs. `make install && make test` from a clean checkout.
PY      ?= python3
VENV    ?= .venv
BIN      = $(VENV)/bin
PYTHON   = $(BIN)/python
CONFIG  ?= trainer/configs/release-filter.toml
RUN     ?= runs/release-filter
BUNDLE  ?= edge_runtime/bundled/hapt-magnitude
DATA    ?= ../shared/datasets
CROSS   ?= sisfall
SIGNING_KEY ?= $(AAE_SIGNING_KEY)
export TF_CPP_MIN_LOG_LEVEL ?= 2

.PHONY: install test test-fast lint fuzz firmware train train-small train-generator evaluate export bench bench-streams bench-smoke clean

$(BIN)/python:
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip

# the main job on a fresh machine: venv + the [edge] extra only (no TensorFlow) + the bundled model on
# the bundled trace (69 anonymized windows as JSON lines on stdout, a status line on stderr)
.PHONY: demo dist
demo: $(BIN)/python
	$(BIN)/pip install -q -e '.[edge]'
	$(BIN)/edge-anonymize --demo

# wheel + sdist into dist/ (the wheel holds the bundled model and deploy/ files, no firmware build/)
dist: $(BIN)/python
	$(PYTHON) -c 'import build' 2>/dev/null || $(BIN)/pip install -q build
	rm -rf dist
	$(PYTHON) -m build --outdir dist .

install: $(BIN)/python
	$(BIN)/pip install -q -e '.[edge,ble,mqtt,batch,train,export,dev]'

test: install
	$(PYTHON) -m pytest -q

test-fast: install
	$(PYTHON) -m pytest -q -m "not slow"

lint: install
	$(BIN)/ruff check edge_runtime firmware_bridge trainer export benchmarks tests
	$(BIN)/mypy

fuzz: install
	HYPOTHESIS_PROFILE=fuzz $(PYTHON) -m pytest -q tests/firmware_bridge -k fuzz
	$(MAKE) -C firmware_bridge/firmware fuzz

firmware:
	$(MAKE) -C firmware_bridge/firmware

train: install
	$(BIN)/aae train --config $(CONFIG) --data $(DATA) --out $(RUN)

train-small: install
	$(BIN)/aae train --config trainer/configs/small.toml --data $(DATA) --out runs/small

# synthetic motion generator (LSTM + MDN, ~15 min on 2 cores) and its quality/privacy report (docs/generator.md)
# the shipped generator (firmware_bridge/models/) was trained with GEN_MINUTES=35; copy runs/gen/generator.* there to ship another
GEN_MINUTES ?= 35
train-generator: install
	$(BIN)/aae generate train --data $(DATA) --out runs/gen --minutes $(GEN_MINUTES)
	$(BIN)/aae generate evaluate --model runs/gen/generator.npz --data $(DATA) --out runs/gen/eval

# within-dataset report, then the cross-dataset report on $(CROSS) (people and a device the model never saw)
evaluate: install
	$(BIN)/aae evaluate --run $(RUN) --data $(DATA)
	$(BIN)/aae evaluate --run $(RUN) --data $(DATA) --cross $(CROSS)

# a failed gate (including the cross-dataset Pareto check) never replaces $(BUNDLE)
export: install
	$(BIN)/aae export --run $(RUN) --data $(DATA) --out $(BUNDLE) --cross $(CROSS) $(if $(SIGNING_KEY),--signing-key $(SIGNING_KEY))

bench: install
	$(PYTHON) -m benchmarks.run --out reports/bench

# 1,000 concurrent 50 Hz TCP streams into one gateway core for 10 minutes (docs/gateway.md)
bench-streams: install
	$(PYTHON) -m benchmarks.streams --streams 1000 --seconds 600 --out reports/bench

bench-smoke: install
	$(PYTHON) -m benchmarks.run --smoke --out reports/bench-smoke

clean:
	rm -rf build dist *.egg-info .pytest_cache .mypy_cache .ruff_cache
	$(MAKE) -C firmware_bridge/firmware clean

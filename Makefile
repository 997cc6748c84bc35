# Two commands do everything: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bpsn-installed

.PHONY: demo test bench up clean venv

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@$(BIN)/python -m pip install --quiet --upgrade pip
	@$(BIN)/python -m pip install --quiet -e '.[test]'
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/bpsn demo

# One pytest worker per core (a test file stays whole on one worker). The Gherkin features run on
# their own (pytest-bdd's cucumber report is empty under xdist; on the pooled bench they take
# seconds), then the schemathesis contract tests (their per-operation tests do not survive xdist).
# Reports: results/junit.xml, results/junit-features.xml, results/cucumber.json, results/junit-contract.xml.
test: $(STAMP)
	@mkdir -p results
	$(BIN)/python -m pytest -q -n auto --dist loadfile --ignore=tests/contract --ignore-glob='features/*' \
		--junitxml=results/junit.xml
	$(BIN)/python -m pytest -q features --junitxml=results/junit-features.xml --cucumberjson=results/cucumber.json
	$(BIN)/python -m pytest -q tests/contract --junitxml=results/junit-contract.xml

bench: $(STAMP)  # simulators (~5 min), a 90 s ServiceNow outage in real time (~2 min), then load profiles (~10 min): BENCHMARKS.md
	$(BIN)/python -m bpsn.bench
	$(BIN)/python -m bpsn.bench.chaos
	$(BIN)/python -m bpsn.bench.load

up: $(STAMP)
	$(BIN)/bpsn up

clean:
	rm -rf $(VENV) .pytest_cache results

# Two commands do everything: `make demo` and `make test`. Both set up .venv themselves.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.bpsn-installed
# test-main's pytest workers: one more than the cores, so a core stays busy while a worker waits on a
# subprocess, a server or Locust's fixed run (2 cores, whole `make test`, same CPU: 0.86-0.90x the wall
# of one worker per core in three interleaved pairs; BENCHMARKS.md, issue #19).
WORKERS ?= $(shell echo $$(( $$(nproc 2>/dev/null || echo 1) + 1 )))

.PHONY: demo test test-main test-features bench up clean venv browser

# Set-up, about 0.74x the wall of a plain venv + pip (fresh clones, interleaved; BENCHMARKS.md, issue #19):
# - the venv starts without pip and gets the newest pip from the interpreter's own pip (--python) when
#   it has one (ensurepip installs an old pip that is then replaced: two installs), else from ensurepip;
# - pip installs without compiling, and compileall then compiles every package on all cores (pip
#   compiles one file after another: about half its time). Like pip, a file that does not compile is
#   left to compile at import (-qq, exit status ignored).
$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv --without-pip $(VENV)
	@$(BIN)/python -m pip --version >/dev/null 2>&1 \
		|| $(PYTHON) -m pip --python $(BIN)/python install --quiet --upgrade pip 2>/dev/null \
		|| { $(BIN)/python -m ensurepip --default-pip >/dev/null && $(BIN)/python -m pip install --quiet --upgrade pip; }
	@$(BIN)/python -m pip install --quiet --no-compile -e '.[test]'
	@$(BIN)/python -m compileall -qq -j 0 "$$($(BIN)/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')" || true
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/bpsn demo

# Headless Chromium for tests/dashboard, from Debian's packages (never a browser download): installed
# when missing and we are root with apt-get (about 15 s with `apt-get update`); otherwise those tests
# skip and say how to install it.
APT_CHROMIUM := DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium chromium-driver
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! command -v chromedriver >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
			echo "installing Debian's chromium and chromium-driver for the browser tests"; \
			{ $(APT_CHROMIUM) >/dev/null 2>&1 || { apt-get update -qq >/dev/null 2>&1 && $(APT_CHROMIUM) >/dev/null 2>&1; }; } \
				|| echo "could not install chromium: the browser tests will skip"; \
		else \
			echo "no chromium: the browser tests will skip (as root: apt-get install chromium chromium-driver)"; \
		fi; \
	fi

# Two parts side by side, each printed whole when it ends (make's --output-sync), failing `make test`
# if either fails:
# - test-main: everything but the features and the contract tests, WORKERS pytest workers (a test
#   file stays whole on one worker; files marked `slow` start first, tests/conftest.py);
# - test-features: the Gherkin features (pytest-bdd's cucumber report is empty under xdist; on the
#   pooled bench they take seconds), then the schemathesis contract tests (their per-operation tests
#   do not survive xdist). One process, in the CPU the workers leave while they wait on subprocesses.
# Reports: results/junit.xml, results/junit-features.xml, results/cucumber.json, results/junit-contract.xml.
test: $(STAMP) browser
	@mkdir -p results
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-main test-features

# Bytecode is kept for the test run even where the environment sets PYTHONDONTWRITEBYTECODE (this
# machine's image does): without it every pytest process and every `bpsn` subprocess compiles bpsn
# from source again, and pytest rewrites the asserts of every bpsn module again (bpsn is a pytest
# plugin), about 1.8 s of CPU per pytest process. __pycache__ is in .gitignore.
test test-main test-features bench: export PYTHONDONTWRITEBYTECODE :=

# faker's and schemathesis's pytest plugins (the main part uses schemathesis only as a library) would
# cost every worker ~1 s of imports.
test-main: $(STAMP)
	$(BIN)/python -m pytest -q -n $(WORKERS) --dist loadfile --no-loadscope-reorder -p no:faker -p no:schemathesis \
		-m 'not bench_check' --ignore=tests/contract --ignore-glob='features/*' --junitxml=results/junit.xml

test-features: $(STAMP)
	$(BIN)/python -m pytest -q -p no:faker -p no:schemathesis features --junitxml=results/junit-features.xml \
		--cucumberjson=results/cucumber.json
	$(BIN)/python -m pytest -q -p no:faker tests/contract --junitxml=results/junit-contract.xml

# First the benchmark's own quick checks (tests marked bench_check: each runs a benchmark in its quick
# mode end to end; they left `make test` for time, issue #19), then the benchmarks themselves.
bench: $(STAMP)  # simulators (~5 min), a 90 s ServiceNow outage in real time (~2 min), a fault storm on both sides as separate processes (~5 min), then load profiles (~10 min): BENCHMARKS.md
	$(BIN)/python -m pytest -q -p no:randomly -m bench_check tests
	$(BIN)/python -m bpsn.bench
	$(BIN)/python -m bpsn.bench.chaos
	$(BIN)/python -m bpsn.bench.chaos_storm
	$(BIN)/python -m bpsn.bench.load
	$(BIN)/python -m bpsn.bench.notify  # SN -> BP latency, change notifications on vs off (~2 min)

up: $(STAMP)
	$(BIN)/bpsn up

clean:
	rm -rf $(VENV) .pytest_cache results

# Two commands do everything on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
TORCH := torch==2.13.0

.PHONY: install demo test bench clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q $(TORCH)
	$(PY) -m pip install -q -e ".[all]"
	touch $@

install: $(VENV)/.installed

# Two seeds on two cores, 1.5M steps each (under 5 minutes), then their spread and intervals.
demo: install
	$(PY) scripts/train.py --out runs/demo --overwrite --seeds 1 2 --workers 2 --ppo.total-timesteps 1500000 \
		--eval.episodes 50
	$(PY) scripts/summarize.py runs/demo/zero_shot.json --group ReachRed=reach ReachBlue=reach

test: install
	$(PY) -m pytest

bench: install
	$(PY) scripts/bench_routing.py
	$(PY) scripts/bench_envs.py
	$(PY) scripts/bench_ppo.py

clean:
	rm -rf $(VENV) runs .pytest_cache

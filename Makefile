# VLA-LEGO entry points. Every target runs scripts/setup.sh first (idempotent, fast when done).
SHELL := /bin/bash
.DEFAULT_GOAL := help
ENV := source scripts/env.sh
PYTEST_ARGS ?=

.PHONY: help setup demo results test test-fast lint format bench clean

help:  ## list targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*##/\t/'

setup:  ## create .venv, install dependencies, build ros2_ws
	@bash scripts/setup.sh

demo: setup  ## the main job: demos -> training -> export -> ROS 2 stack on the sim H1 -> report
	@$(ENV) && python -m vla_lego.demo $(DEMO_ARGS)

results: setup  ## issue #17's results: every task, one policy, direct + ROS, ablation -> docs/results.md
	@$(ENV) && python -m vla_lego.results $(RESULTS_ARGS)

test: setup  ## the whole test suite
	@$(ENV) && bash scripts/run_tests.sh $(PYTEST_ARGS)

test-fast: setup  ## tests without the slow ones
	@$(ENV) && bash scripts/run_tests.sh -m "not slow" $(PYTEST_ARGS)

lint: setup  ## ruff, black, isort, mypy, import layers (docs/ARCHITECTURE.md)
	@$(ENV) && ruff check . && black --check -q . && isort --check-only -q . \
	  && mypy training/vla_lego ros2_ws/src/vla_lego_policy/vla_lego_policy ros2_ws/src/h1_bringup/h1_bringup \
	  && PYTHONPATH=ros2_ws/src/vla_lego_policy:ros2_ws/src/h1_bringup:$$PYTHONPATH lint-imports --no-cache

format: setup  ## apply black, isort and ruff fixes
	@$(ENV) && ruff check --fix -q . ; isort -q . && black -q .

bench: setup  ## run every benchmark, write docs/benchmarks.md
	@$(ENV) && python bench/run_all.py

clean:  ## remove build outputs (keeps .venv)
	rm -rf ros2_ws/build ros2_ws/install ros2_ws/log .venv/.stamps/colcon

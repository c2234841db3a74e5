# The workbook's entry points; README.md explains each. All set-up is done by ci/setup.sh.
SHELL := /bin/bash
VENV := .venv/bin

.PHONY: help setup test soak cluster-test run lab lab-test book bench terraform-check services services-stop export clean-notebooks clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' Makefile | sed -E 's/:.*## /\t/'

setup:  ## build .venv from environment.yml (quick when nothing changed)
	@ci/setup.sh

test:  ## set up, start services, check the export, run every test and chapter, stop services
	@ci/test.sh

soak:  ## the load test held for two minutes instead of the suite's one (services started and stopped around it)
	@SPEEDRUN_SOAK_SECONDS=120 ci/test.sh tests/test_load.py

cluster-test:  ## the cluster tests at their long size: a node down for two minutes under load, 10,000 rides for three consumers (tests/test_cluster.py)
	@SPEEDRUN_CLUSTER_OUTAGE_SECONDS=120 SPEEDRUN_CLUSTER_RIDES=10000 ci/test.sh tests/test_cluster.py

run:  ## build what is missing, serve the whole architecture, print where it is (Ctrl-C stops); SERVICES="home web-client" serves only those
	@ci/run.sh $(SERVICES)

bench:  ## the benchmark suite: every serving path beside its floor (build/bench/results.json, plots; chapter 08 explains them)
	@ci/bench.sh

terraform-check: setup  ## check deploy/gcp offline: HCL2 syntax, references, tfvars example, terraform fmt (when installed)
	$(VENV)/python -m speedrun.gcp.terraform_check deploy/gcp

lab: setup  ## JupyterLab on the chapters (SPEEDRUN_LAB_PORT, 8888), with the workbook's kernel; Ctrl-C stops it and its kernels
	@$(VENV)/python -m speedrun.tools.lab

lab-test: setup  ## every chapter run from JupyterLab's UI in headless Chromium (screenshots in build/lab)
	@SPEEDRUN_LAB_CHAPTERS=all $(VENV)/python -m pytest tests/test_lab.py

book: setup  ## the executed chapters as a static site in build/book/html (Sphinx + MyST-NB, offline; run make test or make run first)
	@$(VENV)/python -m speedrun.tools.book

services: setup  ## start the local Cassandra node and Pub/Sub emulator
	@ci/services.sh start

services-stop:  ## stop them
	@ci/services.sh stop

export: setup  ## nbdev_export: nbs/ -> generated/speedrun
	$(VENV)/nbdev_export

clean-notebooks: setup  ## strip outputs and metadata from nbs/ and chapters/ (do this before committing)
	$(VENV)/nbdev_clean --fname nbs && $(VENV)/nbdev_clean --fname chapters

clean:  ## remove everything the workbook produced (build/), services stopped first
	-@ci/services.sh stop 2>/dev/null
	rm -rf build

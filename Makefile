# moodle-wizard: the two commands are `make demo` and `make test`. Both install what is missing.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# Debian packages the lab and the tests need (installed with --no-install-recommends).
APT_PACKAGES := mariadb-server mariadb-backup mariadb-client openssh-server openssh-client \
	keepalived php-cli php-mysql iproute2 procps util-linux python3-venv socat iputils-ping sudo
# What `lab up --replicas bare` serves to its hosts from apt's cache (lab/replicas.py PURGED).
LAB_DEBS := mariadb-server mariadb-server-core mariadb-backup mariadb-client mariadb-client-core
# nft: the ProxySQL Cluster option's admin-port firewall, on the lab's proxy hosts (its lab test).
APT_PACKAGES += nftables

.PHONY: all deps venv test lint unit tui lab-tests test-lab-shapes test-lab-faults test-lab-cluster test-lab-backup test-crash-matrix check-newcomer bench demo lab-up lab-down clean

all: test

# Installs missing Debian packages. While installing, a policy-rc.d (if the machine has none)
# keeps Debian from starting the packages' services on the machine itself.
deps:
	@missing=""; \
	for p in $(APT_PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then echo "deps: all Debian packages present"; exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: missing:$$missing; run as root (apt-get install)"; exit 1; fi; \
	made=""; \
	if [ ! -e /usr/sbin/policy-rc.d ]; then \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 755 /usr/sbin/policy-rc.d; made=1; \
	fi; \
	echo "deps: installing$$missing"; \
	apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q \
	  --no-install-recommends $$missing </dev/null; rc=$$?; \
	if [ -n "$$made" ]; then rm -f /usr/sbin/policy-rc.d; fi; \
	exit $$rc
	@# The lab's bare replica hosts install MariaDB from a local repository of the machine's
	@# own .debs (no internet in the lab): keep them in apt's cache (downloaded if missing).
	@for p in $(LAB_DEBS); do \
	  ls /var/cache/apt/archives/$${p}_*.deb >/dev/null 2>&1 || missing_debs="$$missing_debs $$p"; \
	done; \
	if [ -z "$$missing_debs" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "deps: the lab needs the .debs of:$$missing_debs; run as root"; exit 1; fi; \
	echo "deps: downloading the .debs of$$missing_debs for the lab"; \
	apt-get install -y -q --reinstall --download-only $$missing_debs </dev/null

$(BIN)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev]'
	touch $@

venv: $(BIN)/.installed

lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy

# The whole suite: unit, TUI and end-to-end lab tests (the lab tests need root).
test: deps venv lint
	$(BIN)/pytest -q -p no:cacheprovider -m "not crash_matrix and not lab_shapes and not lab_faults and not lab_cluster and not lab_backup" \
	  --durations=15

# The lab's own shapes (single-server, bare and fresh-package replicas, two app hosts, port
# 3307), each built for real and checked from inside its hosts, and the migration of the
# fresh-package, bare-replica, port-3307 and already-replicating shapes, and the nightly and
# purged backups of `lab up --backup` (test_lab_backup.py): eight rebuilds, some 15 minutes.
test-lab-shapes: deps venv
	$(BIN)/pytest -q -p no:cacheprovider -m lab_shapes tests/lab/test_lab_shapes.py \
	  tests/lab/test_replica_shapes.py tests/lab/test_source_shapes.py tests/lab/test_lab_backup.py

# The operator's session dropped mid-stream and a replica's link down mid-seed: some 2.5 minutes.
test-lab-faults: deps venv
	$(BIN)/pytest -q -p no:cacheprovider -m lab_faults tests/lab/test_disconnect_and_network.py

# ProxySQL Cluster (proxysql.cluster = true): a migration up to the proxysql step, the two
# nodes in step, a password changed on one reaching the other, servers not following, the
# admin port open to the other proxy only (nftables), rolled back.
test-lab-cluster: deps venv
	$(BIN)/pytest -q -s -p no:cacheprovider -m lab_cluster tests/lab/test_proxysql_cluster.py

# Replicas seeded from the lab's nightly backups (lab up --backup nightly, and purged): from
# the mariadb-backup directory and from the dump on the backup host, caught up and checksummed,
# rolled back; a wizard killed mid-restore resumes; purged binlogs are refused.
test-lab-backup: deps venv
	$(BIN)/pytest -q -p no:cacheprovider -m lab_backup tests/lab/test_existing_backup.py

# SIGKILL at every action boundary of a migration, of its rollback, and of switchover,
# failover and rejoin, then resume (slow;
# MW_CRASH_POINTS=steps runs only the last action of each step).
test-crash-matrix: deps venv
	$(BIN)/pytest -q -s -p no:cacheprovider -m crash_matrix tests/lab/test_crash_matrix.py \
	  tests/lab/test_crash_matrix_operate.py

# The benchmark (docs/benchmarks.md and .json): the lab at DATA_MB of Moodle data, every figure
# measured, the lab left as it was found. About an hour at the default 1024 MB (the cost curve rebuilds the lab at 256 MB and 4 GB).
DATA_MB ?= 1024
BENCH_ARGS ?=
bench: deps venv
	$(BIN)/pip install -q -e '.[dev,bench]'
	$(BIN)/python -m bench.run --data-mb $(DATA_MB) $(BENCH_ARGS)

unit: venv
	$(BIN)/pytest -q tests/unit

tui: venv
	$(BIN)/pytest -q tests/tui

lab-tests: deps venv
	$(BIN)/pytest -q -m "not crash_matrix" tests/lab

lab-up: deps venv
	$(BIN)/moodle-wizard lab up

lab-down: venv
	$(BIN)/moodle-wizard lab down

# Interactive: brings the lab up (or checks it), then starts the guided wizard on the lab's
# jump host. Not part of `make test`.
demo: deps venv
	@echo "The lab's hosts are reachable with: $(BIN)/moodle-wizard lab shell jump  (then ssh db1 ...)"
	@echo "Remove the lab afterwards with:     $(BIN)/moodle-wizard lab down"
	@echo
	$(BIN)/moodle-wizard demo

# The newcomer's path, for real (tests/check_newcomer.sh): a clone in a fresh 0700 directory,
# the README's two commands' non-interactive parts there, a plain `pip install` into a fresh
# venv, its `lab up` refusal and the fix it names, then a whole lab migration and rollback by
# that install. About 8 minutes; needs root, PyPI through pip, and no lab up. Not in make test.
check-newcomer:
	sh tests/check_newcomer.sh

clean:
	rm -rf $(VENV) dist build *.egg-info

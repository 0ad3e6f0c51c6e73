# Simulated power loss and error-injection sweeps (tests/power_loss.rs,
# tests/fault_sweep.rs). Their quick versions run in every `cargo test`
# (so in `make test`); this is the long campaign, not part of `make test`:
#
#   make power-loss   POWER_LOSS_CASES random workloads (default 2000), each
#                     crashed at POWER_LOSS_POINTS points (default 30), every
#                     crash leaving a random power-loss state; then the fault
#                     sweep. Release build; about 2-3 minutes here.
#
# Environment: POWER_LOSS_SEED (first workload seed, default 1; each
# failure message names the workload seed, the crash point and the crash
# seed, and WALSTORE_POWER_LOSS_SEED=<seed> WALSTORE_POWER_LOSS_CASES=1
# reruns one workload).

POWER_LOSS_CASES  ?= 2000
POWER_LOSS_POINTS ?= 30
POWER_LOSS_SEED   ?= 1

.PHONY: power-loss power-loss-long

power-loss-long:
	WALSTORE_POWER_LOSS_CASES=$(POWER_LOSS_CASES) \
	WALSTORE_POWER_LOSS_POINTS=$(POWER_LOSS_POINTS) \
	WALSTORE_POWER_LOSS_SEED=$(POWER_LOSS_SEED) \
	  $(CARGO) test --locked --release --test power_loss --test fault_sweep -- --nocapture

power-loss: power-loss-long

#!/usr/bin/env python3
"""Ask-and-tell bridge between `rea bench search` and Optuna (Debian's python3-optuna).

One JSON object per line on stdin, one answer per line on stdout; nothing else is written to stdout.
Requests:
  {"op": "create", "seed": 1, "direction": "minimize"|"maximize", "space": {...},
   "sampler": "tpe"|"tpe-multivariate"|"random",
   "pruner": "none"|"hyperband", "min_resource": 1, "max_resource": 9, "reduction_factor": 3}
      space: name -> {"type": "float", "low", "high", "log"} | {"type": "int", "low", "high", "step"}
                     | {"type": "categorical", "choices": [...]}
  {"op": "ask"}                                    -> {"number": n, "params": {...}}
  {"op": "report", "number": n, "step": s, "value": v} -> {"prune": true|false}
  {"op": "tell", "number": n, "state": "complete"|"pruned"|"fail", "value": v}  -> {"ok": true}
Errors answer {"error": "..."}; the bridge exits when stdin closes.
"""
import json
import sys
import warnings

try:
    import optuna
except ImportError as e:  # the TypeScript side checks this first; say it plainly anyway
    print(json.dumps({"error": f"optuna is not installed: {e}"}), flush=True)
    sys.exit(3)

optuna.logging.set_verbosity(optuna.logging.WARNING)
# multivariate, group and constant_liar are marked experimental: the warning says nothing the bench needs.
warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


def sampler_for(name, seed):
    """The bench strategies differ only here (and in the pruner)."""
    if name == "tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "tpe-multivariate":
        return optuna.samplers.TPESampler(seed=seed, multivariate=True, group=True, constant_liar=True)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(f"unknown sampler {name!r}")


def distribution(spec):
    t = spec["type"]
    if t == "float":
        return optuna.distributions.FloatDistribution(spec["low"], spec["high"], log=bool(spec.get("log")))
    if t == "int":
        return optuna.distributions.IntDistribution(spec["low"], spec["high"], step=spec.get("step", 1))
    if t == "categorical":
        return optuna.distributions.CategoricalDistribution(spec["choices"])
    raise ValueError(f"unknown distribution type {t!r}")


def main():
    study = None
    space = {}
    trials = {}
    for line in sys.stdin:
        line = line.strip()
        if not line:
            continue
        try:
            req = json.loads(line)
            op = req.get("op")
            if op == "create":
                space = {k: distribution(v) for k, v in req["space"].items()}
                sampler = sampler_for(req.get("sampler", "tpe"), int(req["seed"]))
                pruner = optuna.pruners.NopPruner()
                if req.get("pruner") == "hyperband":
                    pruner = optuna.pruners.HyperbandPruner(
                        min_resource=int(req.get("min_resource", 1)),
                        max_resource=int(req.get("max_resource", 9)),
                        reduction_factor=int(req.get("reduction_factor", 3)),
                    )
                study = optuna.create_study(direction=req["direction"], sampler=sampler, pruner=pruner)
                out = {"ok": True, "optuna": optuna.__version__}
            elif op == "ask":
                trial = study.ask(space)
                trials[trial.number] = trial
                out = {"number": trial.number, "params": trial.params}
            elif op == "report":
                trial = trials[int(req["number"])]
                trial.report(float(req["value"]), int(req["step"]))
                out = {"prune": bool(trial.should_prune())}
            elif op == "tell":
                n = int(req["number"])
                state = {
                    "complete": optuna.trial.TrialState.COMPLETE,
                    "pruned": optuna.trial.TrialState.PRUNED,
                    "fail": optuna.trial.TrialState.FAIL,
                }[req["state"]]
                value = req.get("value") if state == optuna.trial.TrialState.COMPLETE else None
                study.tell(n, value, state=state)
                trials.pop(n, None)
                out = {"ok": True}
            else:
                out = {"error": f"unknown op {op!r}"}
        except Exception as e:  # answer, never die mid-conversation
            out = {"error": f"{type(e).__name__}: {e}"}
        print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()

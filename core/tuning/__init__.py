"""Cross-validation and hyperparameter search, both as ordinary runs under a parent run.

    cv          k folds, one child run each; the parent holds mean +- std per metric
    space       what a search may vary, and values -> RunConfig
    search      the Optuna study and its driver (trials through the RunManager, pruning on val metrics):
                study (spec, create, resume), driver (run_study), results (trial rows, summary, report)
    storage     Optuna's own SQLite file in the workspace
    background  study drivers as threads of the app's server process
    trials      TrialRow and the counts of trials per state (plain data)
    analysis    best value so far, parameter importances, trial curves (what the Tune page draws)

Everything here takes a core.runs.service.RunService (the Engine is one), never the Engine.
Nothing is imported here: the Engine imports `core.tuning.cv` (its ended-run hook), and that
must not pull in Optuna for every command.
"""

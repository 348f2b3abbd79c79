"""Cross-validation and hyperparameter search, both as ordinary runs under a parent run.

    cv          k folds, one child run each; the parent holds mean +- std per metric
    space       what a search may vary, and values -> RunConfig
    search      the Optuna study and its driver (trials through the RunManager, pruning on val metrics):
                study (spec, create, resume), driver (run_study), results (trial rows, summary, report)
    storage     Optuna's own SQLite file in the workspace
    background  study drivers as threads of the app's server process

Nothing is imported here: the run manager imports `core.tuning.cv`, and that must not
pull in Optuna for every command.
"""

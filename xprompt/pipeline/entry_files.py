"""The files each stage writes into its cache entry, named once for the runner that writes them
and for every reader of an entry (export, the prompt library, the ledger, the benchmarks). A cache
key hashes what an entry computes, not these names; the manifest's name is the cache's own
(cache/manifest.py)."""

TABLE = "table.parquet"  # prepare: one language's split (or unlabelled text)
TRAIN_ROWS, DEV_ROWS = "train.parquet", "dev.parquet"  # sample: the training rows and the dev rows
STATE = "state.safetensors"  # train, adapt, average, interpolate: the trained tensors
TRAIN_INFO = "train.json"  # ... and what the training, average or interpolation recorded
PREDICTIONS = "predictions.parquet"  # evaluate, ensemble: each item's label, prediction and probabilities
METRICS = "metrics.json"  # evaluate, ensemble: the scores, the rows scored (n) and the classes present
CALIBRATION = "calibration.json"  # a calibrated evaluate: the language's class prior and its rows
PSEUDO_ROWS, PSEUDO_INFO = "rows.parquet", "pseudo.json"  # pseudo_label: the confident rows, their counts

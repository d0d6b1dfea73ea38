"""Re-record tests/hub_schemas.json from the Hub (needs network): for every built-in task card,
the features, split sizes and configs of the data set(s) its `hub` block names, and the values of
label columns that are not ClassLabel. test_hub_schemas.py checks each card against this file.

    python tests/record_hub_schemas.py
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def record_dataset(dataset_id: str, configs: list[str | None], label_column: str) -> dict:
    import datasets

    first = configs[0]
    builder = datasets.load_dataset_builder(dataset_id, first)
    features = builder.info.features
    entry = {"configs": configs, "features": features.to_dict(),
             "splits": {name: info.num_examples for name, info in builder.info.splits.items()}}
    if not isinstance(features[label_column], datasets.ClassLabel):
        test = datasets.load_dataset(dataset_id, first, split="test")
        entry["label_values"] = {label_column: sorted(set(test[label_column]))}
    return entry


def main() -> int:
    import datasets

    from xprompt.data import known_tasks, load_card

    path = HERE / "hub_schemas.json"
    schemas = {"_about": json.loads(path.read_text(encoding="utf-8"))["_about"]}
    for task in known_tasks():
        card = load_card(task)
        if card.hub is None:
            continue
        if "{lang}" in card.hub.dataset:  # one repository per language
            for lang in card.languages:
                dataset_id = card.hub.dataset.format(lang=lang)
                schemas[dataset_id] = record_dataset(dataset_id, [None], card.hub.columns.label)
        else:
            configs = datasets.get_dataset_config_names(card.hub.dataset)
            schemas[card.hub.dataset] = record_dataset(card.hub.dataset, configs, card.hub.columns.label)
    about = schemas["_about"].split(" Transcribed")[0]
    schemas["_about"] = about + " Recorded from the Hub by tests/record_hub_schemas.py."
    path.write_text(json.dumps(schemas, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())

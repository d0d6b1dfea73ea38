"""`xprompt data tasks|show|check`: the task cards and their data."""

from __future__ import annotations


def add_commands(commands) -> None:
    data = commands.add_parser("data", help="look at task cards and data")
    data_commands = data.add_subparsers(dest="data_command", required=True)
    data_commands.add_parser("tasks", help="list known tasks")
    show = data_commands.add_parser("show", help="load one split and print a few rows")
    show.add_argument("task")
    show.add_argument("--lang")
    show.add_argument("--split", default="test")
    show.add_argument("--data-root")
    show.add_argument("--rows", type=int, default=5)
    check = data_commands.add_parser("check", help="load every language and split of a task card and "
                                                   "report classes, empty texts, duplicates and overlaps")
    check.add_argument("task", help="known task or path to a task card YAML")
    check.add_argument("--data-root", help="folder with the card's files (default: task.data_root / $XPROMPT_DATA)")
    check.add_argument("--langs", nargs="+", help="only these languages (default: all of the card's)")
    data.set_defaults(handler=_data)


def _data(args) -> int:
    from xprompt.data import known_tasks, load_card, load_split
    if args.data_command == "check":
        from xprompt.data.check import check_command
        return check_command(args.task, args.data_root, args.langs)
    if args.data_command == "tasks":
        for name in known_tasks():
            card = load_card(name)
            print(f"{name}: {len(card.labels)} classes, {len(card.languages)} languages — {card.description}")
        return 0
    card = load_card(args.task)
    table = load_split(card, args.lang or card.source_language, args.split, args.data_root)
    print(f"{card.name} {args.lang or card.source_language} {args.split}: {len(table)} rows; labels: "
          + ", ".join(f"{card.labels[i]}={n}" for i, n in sorted(table["label"].value_counts().items())))
    print(table.head(args.rows).to_string())
    return 0

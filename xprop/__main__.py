"""``python -m xprop``: the command line (see ``xprop --help``)."""

from xprop.cli import main

if __name__ == "__main__":
    raise SystemExit(main())

"""Drop from the extracted template what ``-k label`` caught besides models.base.label():
SQLAlchemy's ``expression.label("month")`` names a result column, it is not user text.
Such an entry is an identifier (lower case, digits, underscores) found only in .py files.

Usage: python tools/prune_pot.py translations/messages.pot
"""

import re
import sys

from babel.messages.pofile import read_po, write_po

IDENTIFIER = re.compile(r"[a-z][a-z0-9_]*")


def main(path: str) -> None:
    with open(path, "rb") as source:
        catalog = read_po(source)
    for message in list(catalog):
        if (
            message.id
            and isinstance(message.id, str)
            and IDENTIFIER.fullmatch(message.id)
            and message.locations
            and all(filename.endswith(".py") for filename, _ in message.locations)
        ):
            catalog.delete(message.id, context=message.context)
    with open(path, "wb") as target:
        write_po(target, catalog, width=76)


if __name__ == "__main__":
    main(sys.argv[1])

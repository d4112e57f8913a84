"""A ready-to-fill example-set file (CSV or Excel): the format's columns and two example rows.

People who keep examples in a spreadsheet start faster from a file that already has the right
header and shows what a good row looks like than from a description of the columns. The rows are
valid: the template loads with :func:`steering.data.examples.load_examples` as it is.
"""

from __future__ import annotations

import csv
import io

from steering.data.examples import KNOWN_COLUMNS

TEMPLATE_FORMATS = ("csv", "xlsx")

# One row per example, in KNOWN_COLUMNS order: prompt, positive, negative, answer, choices, split.
TEMPLATE_ROWS: tuple[tuple[str, ...], ...] = (
    (
        "A shop sells pens at 3 dollars each. How much do 4 pens cost?",
        "Each pen costs 3 dollars, so 4 pens cost 4 x 3 = 12 dollars. The answer is 12.",
        "Each pen costs 3 dollars, so 4 pens cost 4 + 3 = 7 dollars. The answer is 7.",
        "12",
        "12|7|15",
        "",
    ),
    (
        "Is 91 a prime number? Answer yes or no.",
        "91 = 7 x 13, so it has divisors other than 1 and itself. The answer is no.",
        "91 is odd and does not end in 5, so it is prime. The answer is yes.",
        "no",
        "yes|no",
        "heldout",
    ),
)


def template_bytes(fmt: str) -> bytes:
    """The template as a ``csv`` (UTF-8 with a byte-order mark, so Excel reads it) or ``xlsx``."""
    header = list(KNOWN_COLUMNS)
    if fmt == "csv":
        buffer = io.StringIO(newline="")
        writer = csv.writer(buffer)
        writer.writerow(header)
        writer.writerows(TEMPLATE_ROWS)
        return buffer.getvalue().encode("utf-8-sig")
    if fmt == "xlsx":
        from openpyxl import Workbook  # only needed for this format

        workbook = Workbook()
        sheet = workbook.worksheets[0]  # a new workbook has exactly one sheet
        sheet.title = "examples"
        sheet.append(header)
        for row in TEMPLATE_ROWS:
            sheet.append([cell or None for cell in row])
        out = io.BytesIO()
        workbook.save(out)
        return out.getvalue()
    raise ValueError(f"unknown template format {fmt!r}; expected one of {TEMPLATE_FORMATS}")

#!/usr/bin/env python3
"""Writes crates/domain/data/icd10cm-2026.tsv.gz: every billable ICD-10-CM code with its description.

Source: the CDC/NCHS ICD-10-CM tabular list, April 1, 2026 release (public domain), as carried by
the PyPI package simple-icd-10-cm 1.5.0 (`pip install simple-icd-10-cm==1.5.0`). A code is
billable when it has no children (7th-character extensions are expanded by the package).
Format: one `CODE<TAB>DESCRIPTION` line per code, codes with their dot, in tabular order.
"""
import gzip
import re
import sys

import simple_icd_10_cm as icd

out = sys.argv[1] if len(sys.argv) > 1 else "crates/domain/data/icd10cm-2026.tsv.gz"
lines = []
for code in icd.get_all_codes(True):
    if icd.is_chapter_or_block(code) or not icd.is_leaf(code):
        continue
    description = re.sub(r"\s+", " ", icd.get_description(code)).strip()
    lines.append(f"{code}\t{description}\n")
with open(out, "wb") as f:
    # mtime 0 and no file name: the same input always gives the same bytes.
    f.write(gzip.compress("".join(lines).encode("utf-8"), compresslevel=9, mtime=0))
print(f"{len(lines)} billable codes written to {out}")

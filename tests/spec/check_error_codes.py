#!/usr/bin/env python3
"""Checks that the table of error codes in spec/FORMAT.md ("Error codes") is the code
list of the library, number for number and name for name:

- the C++ enum weightless::FileError (lib/include/weightless/format.h), its names as
  FileErrorName returns them (lib/src/container/names.cc),
- the C enum wl_file_error (lib/include/weightless/weightless.h),

and that every code the spec's rules cite in brackets ("[`section_overlap`]") and every
must-reject file tests/golden-errors/<code>__<what>.wl names a code of the table.

Usage: check_error_codes.py REPO_ROOT  (exits non-zero, saying what differs, on mismatch)
"""
import pathlib
import re
import sys


def spec_table(text: str) -> dict:
    """{number: name} from the "## Error codes" table: rows | n | `name` | meaning |."""
    section = re.search(r"^## Error codes\n(.*?)(?=^## )", text, re.S | re.M)
    if not section:
        raise SystemExit("spec/FORMAT.md: no '## Error codes' section")
    rows = re.findall(r"^\|\s*(\d+)\s*\|\s*`([a-z0-9_]+)`\s*\|\s*\S.*\|\s*$", section.group(1),
                      re.M)
    table = {}
    for number, name in rows:
        if int(number) in table:
            raise SystemExit(f"spec/FORMAT.md: code {number} listed twice")
        table[int(number)] = name
    return table


def cpp_enum(header: str, names_cc: str) -> dict:
    """{number: name} of enum class FileError, named as FileErrorName names them."""
    body = re.search(r"enum class FileError : int \{(.*?)\};", header, re.S)
    if not body:
        raise SystemExit("format.h: no enum class FileError")
    enumerators = re.findall(r"^\s*(k\w+)\s*=\s*(\d+)\s*,", body.group(1), re.M)
    names = dict(re.findall(r'case FileError::(k\w+):\s*return "([a-z0-9_]+)";', names_cc))
    out = {}
    for enumerator, number in enumerators:
        if enumerator not in names:
            raise SystemExit(f"names.cc: FileErrorName has no case for {enumerator}")
        out[int(number)] = names[enumerator]
    return out


def c_enum(header: str) -> dict:
    """{number: NAME} of the C enum wl_file_error (WL_FILE_ prefix removed)."""
    body = re.search(r"typedef int wl_file_error;\s*enum \{([^}]*)\};", header, re.S)
    if not body:
        raise SystemExit("weightless.h: no wl_file_error enum")
    return {int(n): name for name, n in re.findall(r"WL_FILE_(\w+)\s*=\s*(\d+)", body.group(1))}


def main() -> int:
    root = pathlib.Path(sys.argv[1])
    spec_text = (root / "spec" / "FORMAT.md").read_text()
    spec = spec_table(spec_text)
    cpp = cpp_enum((root / "lib/include/weightless/format.h").read_text(),
                   (root / "lib/src/container/names.cc").read_text())
    c = c_enum((root / "lib/include/weightless/weightless.h").read_text())
    problems = []
    for number in sorted(set(spec) | set(cpp) | set(c)):
        s, k = spec.get(number), cpp.get(number)
        # The C API calls code 0 WL_FILE_OK; every other C name is the upper-case name.
        expected_c = "OK" if number == 0 else (k or s or "").upper()
        if s != k:
            problems.append(f"code {number}: spec/FORMAT.md says {s!r}, format.h/names.cc {k!r}")
        if c.get(number) != expected_c:
            problems.append(f"code {number}: weightless.h says WL_FILE_{c.get(number)}, "
                            f"expected WL_FILE_{expected_c}")
    known = set(spec.values())
    body = spec_text.split("## Error codes")[0]
    for cited in sorted(set(re.findall(r"\[`([a-z0-9_]+)`\]", body))):
        if cited not in known:
            problems.append(f"spec/FORMAT.md cites [`{cited}`], which is not in its code table")
    for path in sorted((root / "tests" / "golden-errors").glob("*.wl")):
        code = path.stem.split("__")[0]
        if code not in known:
            problems.append(f"tests/golden-errors/{path.name}: '{code}' is not a code of the spec")
    if len(spec) < 2:
        problems.append("spec/FORMAT.md: the code table has fewer than 2 rows")
    for p in problems:
        print(p)
    print(f"{len(spec)} error codes checked: " + ("MISMATCH" if problems else "spec and code agree"))
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())

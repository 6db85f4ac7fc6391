"""Lab 7: the failed test cases of a JUnit XML report, one per line as "classname: name".

    python junit_failures.py REPORT

Exit 0 when nothing failed, 1 when something did, 2 when the report cannot be read.
"""
import sys
import xml.etree.ElementTree as ET


def main(path: str) -> int:
    try:
        root = ET.parse(path).getroot()
    except (OSError, ET.ParseError) as e:
        print(f"{path}: {e}", file=sys.stderr)
        return 2
    failed = [case for case in root.iter("testcase")
              if case.find("failure") is not None or case.find("error") is not None]
    for case in failed:
        print(f"{case.get('classname')}: {case.get('name')}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else 2)

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
    # TODO: every <testcase> (at any depth: root.iter("testcase")) with a <failure> or
    #       <error> child failed; print each as f"{classname}: {name}" (its attributes)
    #       and return 1 if any failed, else 0
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]) if len(sys.argv) == 2 else 2)

#!/usr/bin/env python3
"""test_skip_codes.py - every test of the build reports a skip as a skip.

    test_skip_codes.py CTEST BUILD_DIR SKIP_CODE

Asks ctest for the tests registered in BUILD_DIR (`ctest --show-only=json-v1`, nothing is run)
and fails for each one without SKIP_RETURN_CODE = SKIP_CODE: such a test's "SKIPPED" exit would
count as a pass, and CI's check for skipped tests (check.sh) would not see it. A CMakeLists.txt
under tests/ that adds tests must end with phx_tests_skip_code() (cmake/PhxTesting.cmake).
"""
import json
import subprocess
import sys


def main():
    ctest, build, code = sys.argv[1], sys.argv[2], int(sys.argv[3])
    out = subprocess.run([ctest, "--show-only=json-v1"], cwd=build, check=True,
                         capture_output=True, text=True).stdout
    tests = json.loads(out).get("tests", [])
    missing = []
    for t in tests:
        props = {p["name"]: p["value"] for p in t.get("properties", [])}
        if props.get("SKIP_RETURN_CODE") != code:
            missing.append(f"{t['name']} (SKIP_RETURN_CODE {props.get('SKIP_RETURN_CODE')})")
    if not tests:
        print("FAILED: ctest lists no test in", build)
        return 1
    for m in missing:
        print("FAILED: no skip code:", m)
    print(f"{len(tests) - len(missing)} of {len(tests)} tests have SKIP_RETURN_CODE {code}")
    return 1 if missing else 0


if __name__ == "__main__":
    sys.exit(main())

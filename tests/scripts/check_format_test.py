#!/usr/bin/env python3
"""scripts/check-format on temporary git repositories: formatted files pass; an unformatted tracked file
fails, listed with the command that formats everything; untracked files and files of other kinds are
not looked at.

Usage: check_format_test.py SCRIPT REPOSITORY   (the repository's .clang-format is used)
"""

import pathlib
import shutil
import subprocess
import sys
import tempfile
import unittest

SCRIPT, REPO = sys.argv[1], sys.argv[2]

FORMATTED = "int answer() {\n    return 42;\n}\n"
UNFORMATTED = "int  answer( ){return 42;}\n"


class CheckFormat(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ferry-format-")
        self.root = pathlib.Path(self.tmp.name)
        subprocess.run(["git", "init", "-q", str(self.root)], check=True, timeout=60)
        shutil.copy(pathlib.Path(REPO) / ".clang-format", self.root / ".clang-format")

    def tearDown(self):
        self.tmp.cleanup()

    def add(self, rel, text, track=True):
        path = self.root / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        if track:
            subprocess.run(["git", "-C", str(self.root), "add", rel], check=True, timeout=60)

    def run_check(self):
        return subprocess.run([SCRIPT, str(self.root)], capture_output=True, text=True, timeout=120)

    def test_formatted_files_pass(self):
        self.add("src/a.cc", FORMATTED)
        self.add("include/b.hh", "#pragma once\n" + FORMATTED)
        self.add("notes.txt", UNFORMATTED)  # not C++
        self.add("src/untracked.cc", UNFORMATTED, track=False)
        result = self.run_check()
        self.assertEqual(result.returncode, 0, result.stderr)

    def test_an_unformatted_file_fails_with_the_fix(self):
        self.add("src/a.cc", FORMATTED)
        self.add("src/bad.hh", UNFORMATTED)
        result = self.run_check()
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("  src/bad.hh\n", result.stderr)
        self.assertNotIn("src/a.cc", result.stderr)
        self.assertIn("clang-format -i $(git ls-files '*.cc' '*.hh')", result.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])

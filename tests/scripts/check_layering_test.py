#!/usr/bin/env python3
"""scripts/check-layering on temporary trees: a clean tree passes; an upward include, an include of a
sibling and an include of an unknown module each fail, naming file, line and both modules; the known
violations of the allowlist are reported and do not fail (only in the files named); the repository itself passes.

Usage: check_layering_test.py SCRIPT REPOSITORY
"""

import importlib.machinery
import importlib.util
import pathlib
import subprocess
import sys
import tempfile
import unittest

SCRIPT, REPO = sys.argv[1], sys.argv[2]


def write(root, rel, text):
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)


def clean_tree(root):
    """A tree in which every module includes itself and what is below it, in .cc and .hh files."""
    write(root, "include/ferry/util/file.hh", "#pragma once\n#include <string>\n")
    write(root, "src/util/file.cc", '#include "ferry/util/file.hh"\n')
    write(root, "include/ferry/store/local_store.hh", '#pragma once\n#include "ferry/util/file.hh"\n')
    write(root, "src/store/local_store.cc", '#include "ferry/store/local_store.hh"\n')
    write(root, "include/ferry/http/client.hh", '#pragma once\n#include "ferry/util/file.hh"\n')
    write(root, "src/sched/worker.cc",
          '#include "ferry/http/client.hh"\n#include "ferry/store/local_store.hh"\n')
    write(root, "include/ferry/sched/worker.hh", '#pragma once\n#include "ferry/store/local_store.hh"\n')
    write(root, "src/cache/binary_cache.cc", '#include "ferry/sched/worker.hh"\n#  include "ferry/http/client.hh"\n')
    write(root, "src/sandbox/sandbox_builder.cc", '#include "ferry/sched/worker.hh"\n')
    write(root, "src/cli/main.cc",
          '#include "ferry/cache/binary_cache.hh"\n#include "ferry/sandbox/sandbox_builder.hh"\n'
          '#include "session.hh"\n')


def allowlist():
    """The script's ALLOWED entries (the script has no .py suffix: load it by path)."""
    loader = importlib.machinery.SourceFileLoader("check_layering", SCRIPT)
    spec = importlib.util.spec_from_loader("check_layering", loader)
    module = importlib.util.module_from_spec(spec)
    loader.exec_module(module)
    return sorted(module.ALLOWED)


def run(root):
    return subprocess.run([sys.executable, SCRIPT, str(root)], capture_output=True, text=True, timeout=60)


class CheckLayering(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory(prefix="ferry-layering-")
        self.root = pathlib.Path(self.tmp.name)
        clean_tree(self.root)

    def tearDown(self):
        self.tmp.cleanup()

    def assert_fails_with(self, rel, line, text):
        result = run(self.root)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn(f"{rel}:{line}: {text}", result.stderr)

    def test_clean_tree_passes(self):
        result = run(self.root)
        self.assertEqual(result.returncode, 0, result.stderr)
        self.assertEqual(result.stderr, "")

    def test_upward_include_in_a_source_fails(self):
        write(self.root, "src/store/local_store.cc",
              '#include "ferry/store/local_store.hh"\n\n#include "ferry/sched/worker.hh"\n')
        self.assert_fails_with("src/store/local_store.cc", 3, "store includes sched (ferry/sched/worker.hh)")

    def test_upward_include_in_a_header_fails(self):
        write(self.root, "include/ferry/util/file.hh", '#pragma once\n#include "ferry/cli/x.hh"\n')
        self.assert_fails_with("include/ferry/util/file.hh", 2, "util includes cli (ferry/cli/x.hh)")

    def test_sibling_includes_fail(self):
        write(self.root, "src/store/lock.cc", '#include "ferry/http/client.hh"\n')
        write(self.root, "src/sandbox/x.cc", '// a sandbox file\n#include "ferry/cache/binary_cache.hh"\n')
        result = run(self.root)
        self.assertEqual(result.returncode, 1, result.stderr)
        self.assertIn("src/store/lock.cc:1: store includes http", result.stderr)
        self.assertIn("src/sandbox/x.cc:2: sandbox includes cache", result.stderr)

    def test_unknown_module_fails(self):
        write(self.root, "src/sched/x.cc", '#include "ferry/remote/builder.hh"\n')
        self.assert_fails_with("src/sched/x.cc", 1, "sched includes remote")

    def test_allowlisted_includes_are_reported_and_pass(self):
        for rel, header in allowlist():
            write(self.root, rel, f'// known\n#include "{header}"\n')
        result = run(self.root)
        self.assertEqual(result.returncode, 0, result.stderr)
        for rel, header in allowlist():
            self.assertIn(f"allowed for now: {rel}:2: ", result.stderr)

    def test_allowlist_names_files_not_modules(self):
        # An include allowed in one file of a module is still a violation in another file.
        write(self.root, "src/sched/goal.cc", '#include "ferry/cache/substituter.hh"\n')
        self.assert_fails_with("src/sched/goal.cc", 1, "sched includes cache (ferry/cache/substituter.hh)")

    def test_the_repository_passes(self):
        result = run(pathlib.Path(REPO))
        self.assertEqual(result.returncode, 0, result.stderr)


if __name__ == "__main__":
    unittest.main(argv=[sys.argv[0], "-v"])

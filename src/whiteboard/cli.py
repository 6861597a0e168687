"""The `whiteboard` command: grade a submission, regenerate release/ and solutions/."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _grade(args: argparse.Namespace) -> int:
    from whiteboard.grade import find_autograder, grade
    from whiteboard.results import format_report

    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"whiteboard: {submission} is not a directory (expected one laid out like release/)",
              file=sys.stderr)
        return 2
    autograder = Path(args.autograder) if args.autograder else find_autograder()
    results = grade(submission, args.assignment or None, autograder=autograder)
    results["submission"] = args.submission
    if args.json:
        out = Path(args.json)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(out.name + ".tmp")
        tmp.write_text(json.dumps(results, indent=1))
        os.replace(tmp, out)
    if not args.quiet:
        print(format_report(results, failures=not args.summary))
    return 0


def _generate(args: argparse.Namespace) -> int:
    from whiteboard.generate import generate

    generate(Path(args.course), args.assignment or None, execute=not args.no_execute)
    return 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="whiteboard", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    g = sub.add_parser("grade", help="grade one submission (a directory laid out like release/)")
    g.add_argument("submission", help="e.g. solutions, release, or a student's folder")
    g.add_argument("--json", metavar="OUT", help="write the results (design.md's format) here")
    g.add_argument("--assignment", action="append", metavar="A", help="grade only A (repeatable)")
    g.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")
    g.add_argument("--summary", action="store_true", help="points per function only, no messages")
    g.add_argument("--quiet", action="store_true", help="print nothing (use with --json)")
    g.set_defaults(run=_grade)

    gen = sub.add_parser("generate", help="regenerate release/ and solutions/ from source/")
    gen.add_argument("--course", default=".", help="the course directory (default: .)")
    gen.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")
    gen.add_argument("--no-execute", action="store_true", help="do not execute the solutions")
    gen.set_defaults(run=_generate)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

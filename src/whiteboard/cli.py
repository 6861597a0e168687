"""The `whiteboard` command: grade a submission or a class, regenerate release/ and solutions/."""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path


def _grade(args: argparse.Namespace) -> int:
    from whiteboard.grading.grade import find_autograder, grade
    from whiteboard.grading.results import format_report

    submission = Path(args.submission)
    if not submission.is_dir():
        print(f"whiteboard: {submission} is not a directory (expected one laid out like release/)",
              file=sys.stderr)
        return 2
    autograder = Path(args.autograder) if args.autograder else find_autograder()
    results = grade(submission, args.assignment or None, autograder=autograder, warn=not args.quiet)
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
    from whiteboard.course.generate import generate

    generate(Path(args.course), args.assignment or None, execute=not args.no_execute)
    return 0


def _grade_class(args: argparse.Namespace) -> int:
    from whiteboard.course.classgrade import grade_class, summary_table

    submitted = Path(args.submitted)
    if not submitted.is_dir():
        print(f"whiteboard: {submitted} is not a directory (expected nbgrader's "
              "submitted/<student>/<assignment>/ tree)", file=sys.stderr)
        return 2
    out = Path(args.out)
    autograder = Path(args.autograder) if args.autograder else None
    try:
        cr = grade_class(submitted, out, workers=args.workers, assignments=args.assignment or None,
                         autograder=autograder, progress=not args.no_progress)
    except ValueError as e:  # an --assignment the autograder does not know
        print(f"whiteboard: {e}", file=sys.stderr)
        return 2
    print(summary_table(cr))
    print(f"graded {len(cr.graded)}, skipped {len(cr.skipped)} unchanged, failed {len(cr.failed)}"
          f"{' (' + ', '.join(cr.failed) + ')' if cr.failed else ''} in {cr.seconds:.1f} s")
    print(f"wrote {out / 'grades.csv'}, {out}/<student>.json, {out / 'feedback'}/<student>/<assignment>.html")
    if args.gradebook is not None:
        from whiteboard.course.gradebook import default_db_url, write_gradebook

        db_url = args.gradebook or default_db_url(submitted.resolve().parent)
        counts = write_gradebook(cr.results, db_url, submitted)
        print(f"gradebook: wrote {counts['submissions']} submissions to {db_url}"
              + (f" ({counts['skipped']} skipped: assignment not in the gradebook)" if counts["skipped"] else ""))
    return 0


def _new(args: argparse.Namespace) -> int:
    from whiteboard.course.new import new_assignment

    try:
        written = new_assignment(Path(args.course), args.assignment,
                                 Path(args.catalog) if args.catalog else None)
    except (KeyError, FileExistsError, FileNotFoundError) as e:
        print(f"whiteboard: {e}", file=sys.stderr)
        return 2
    course = Path(args.course).resolve()
    print("wrote\n" + "\n".join(f"  {p.relative_to(course)}" for p in written))
    print(f"next: fill in the TODOs, then `whiteboard generate --assignment {args.assignment}` and "
          f"`pytest tests/test_mutants.py -k {args.assignment}`")
    return 0


def _student_kit(args: argparse.Namespace) -> int:
    from whiteboard.course.kit import build_kit

    try:
        out = build_kit(Path(args.course), Path(args.out), args.assignment or None)
    except (ValueError, FileExistsError) as e:
        print(f"whiteboard: {e}", file=sys.stderr)
        return 2
    print(f"wrote the student kit to {out}")
    return 0


def _export_gradescope(args: argparse.Namespace) -> int:
    from whiteboard.course.gradescope import export  # written separately; imported only when asked for

    path = export(Path(args.out_zip), Path(args.course))
    print(f"wrote {path}")
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

    gc = sub.add_parser("grade-class", help="grade nbgrader's submitted/<student>/<assignment>/ tree "
                        "in parallel: grades.csv, per-student JSON and feedback")
    gc.add_argument("submitted", help="nbgrader's submitted/ folder")
    gc.add_argument("--out", required=True, metavar="OUT",
                    help="where grades.csv, <student>.json and feedback/ go (re-runs skip unchanged students)")
    gc.add_argument("--workers", type=int, metavar="N", help="grading processes (default: all cores)")
    gc.add_argument("--assignment", action="append", metavar="A", help="grade only A (repeatable)")
    gc.add_argument("--gradebook", nargs="?", const="", metavar="DB_URL",
                    help="also write the scores into nbgrader's gradebook (default: "
                         "sqlite:///<parent of SUBMITTED>/gradebook.db)")
    gc.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")
    gc.add_argument("--no-progress", action="store_true", help="no progress bar")
    gc.set_defaults(run=_grade_class)

    nw = sub.add_parser("new", help="write the skeleton of a new assignment from its catalogue entry")
    nw.add_argument("assignment", metavar="qNN_slug", help="the assignment's id, as in the catalogue")
    nw.add_argument("--catalog", metavar="PATH", help="the catalogue (default: catalog.md found here or above)")
    nw.add_argument("--course", default=".", help="the course directory (default: .)")
    nw.set_defaults(run=_new)

    kit = sub.add_parser("student-kit", help="the folder to give students: notebooks and public checks, no answers")
    kit.add_argument("out", metavar="OUT", help="a new folder for the kit")
    kit.add_argument("--course", default=".", help="the course directory (default: .)")
    kit.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")
    kit.set_defaults(run=_student_kit)

    gs = sub.add_parser("export-gradescope", help="package the course as a Gradescope autograder zip")
    gs.add_argument("out_zip", metavar="OUT.zip", help="the zip to write")
    gs.add_argument("--course", default=".", help="the course directory (default: .)")
    gs.set_defaults(run=_export_gradescope)

    args = parser.parse_args(argv)
    return args.run(args)


if __name__ == "__main__":
    sys.exit(main())

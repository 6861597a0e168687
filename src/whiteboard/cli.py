"""The `whiteboard` command: check and grade notebooks, grade a class, build the course's files.

Every subcommand answers a mistake in its arguments (a folder that does not exist or holds no
assignment notebook, an unknown assignment) with one line that says what was expected, and exits
with status 2; grading that ran exits 0 whatever the score.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from whiteboard import __version__

EXAMPLES = {
    "grade": "whiteboard grade submitted/alice --json alice.json",
    "check": "whiteboard check                      # the notebooks in this folder, public checks",
    "export": "whiteboard export --out submission.zip",
    "grade-class": "whiteboard grade-class submitted/ --out grades/ --gradebook",
    "generate": "whiteboard generate --assignment q05_cross_entropy",
    "student-kit": "whiteboard student-kit ../kit-for-students",
    "new": "whiteboard new q22_my_question --catalog ../shared/catalog.md",
    "export-gradescope": "whiteboard export-gradescope autograder.zip",
}


class UsageError(Exception):
    """A mistake in the command's arguments: its message is printed as it is."""


def _fail(message: str) -> int:
    print(f"whiteboard: {message}", file=sys.stderr)
    return 2


def _autograder(args: argparse.Namespace) -> Path:
    from whiteboard.grading.course import find_autograder

    try:
        return Path(args.autograder).resolve() if getattr(args, "autograder", None) else find_autograder()
    except FileNotFoundError as exc:
        raise UsageError(str(exc)) from None


def _assignments(autograder: Path, wanted: list[str] | None) -> list[str] | None:
    from whiteboard.grading.course import available_assignments, unknown_assignments

    unknown = unknown_assignments(autograder, wanted or [])
    if unknown:
        known = available_assignments(autograder)
        raise UsageError(f"no assignment called {', '.join(unknown)}; the assignments are: {', '.join(known)}")
    return wanted or None


def _submitted(folder: Path, autograder: Path, wanted: list[str] | None) -> tuple[list[str], list[str]]:
    """(assignments to grade, assignments missing from the folder); a folder with none is an error."""
    from whiteboard.grading.course import available_assignments, describe_folder, submitted_assignments

    if not folder.is_dir():
        raise UsageError(f"{folder} is not a folder. Give the folder that holds the notebooks, laid out "
                         "as release/ is: <assignment>/<assignment>.ipynb (e.g. q05_cross_entropy/"
                         "q05_cross_entropy.ipynb).")
    known = available_assignments(autograder)
    present = submitted_assignments(folder, wanted or known)
    if wanted:
        return list(wanted), [a for a in wanted if a not in present]
    if not present:
        raise UsageError(f"{folder} holds no assignment notebook. It holds: {describe_folder(folder)}. "
                         "Expected <assignment>/<assignment>.ipynb (or <assignment>.ipynb), for one of: "
                         f"{', '.join(known)}.")
    return present, []


def _write_json(path: str, results: dict) -> None:
    from whiteboard.util import write_atomic

    write_atomic(Path(path), json.dumps(results, indent=1))


# ---- subcommands -------------------------------------------------------------------------------

def _grade(args: argparse.Namespace, public_only: bool = False) -> int:
    from whiteboard.grading.grade import grade
    from whiteboard.grading.results import format_report

    autograder = _autograder(args)
    wanted = _assignments(autograder, args.assignment)
    folder = Path(args.submission)
    todo, missing = _submitted(folder, autograder, wanted)
    results = grade(folder, todo, autograder=autograder, warn=not args.quiet, public_only=public_only)
    results["submission"] = args.submission
    if args.json:
        _write_json(args.json, results)
    if not args.quiet:
        print(format_report(results, failures=not args.summary))
        if missing:
            print(f"not found in {folder}: {', '.join(missing)}")
    return 0


def _check(args: argparse.Namespace) -> int:
    args.summary, args.json = False, getattr(args, "json", None)
    return _grade(args, public_only=True)


def _export(args: argparse.Namespace) -> int:
    from whiteboard.course.handin import export

    autograder = _autograder(args)
    folder = Path(args.submission)
    wanted = _assignments(autograder, args.assignment)
    todo, missing = _submitted(folder, autograder, wanted)
    if missing:
        raise UsageError(f"not found in {folder}: {', '.join(missing)}")
    try:
        out = export(folder, todo, Path(args.out))
    except ValueError as exc:
        raise UsageError(f"nothing exported: {exc}") from None
    print(f"wrote {out} with {', '.join(f'{a}.ipynb' for a in todo)}: upload it as your submission")
    return 0


def _generate(args: argparse.Namespace) -> int:
    from whiteboard.course.generate import generate

    course = Path(args.course)
    if not (course / "source").is_dir():
        raise UsageError(f"{course} has no source/ folder: run this in the course directory or pass --course")
    _assignments(course / "autograder", args.assignment)
    generate(course, args.assignment or None, execute=not args.no_execute)
    return 0


def _grade_class(args: argparse.Namespace) -> int:
    from whiteboard.course.classgrade import grade_class, summary_table
    from whiteboard.grading.results import plural

    submitted = Path(args.submitted)
    if not submitted.is_dir():
        raise UsageError(f"{submitted} is not a folder (expected nbgrader's submitted/<student>/<assignment>/ tree)")
    autograder = _autograder(args)
    wanted = _assignments(autograder, args.assignment)
    if args.workers is not None and args.workers < 1:
        raise UsageError("--workers must be at least 1")
    out = Path(args.out)
    cr = grade_class(submitted, out, workers=args.workers, assignments=wanted, autograder=autograder,
                     progress=not args.no_progress)
    print(summary_table(cr))
    print(f"graded {plural(len(cr.graded), 'student')}, skipped {len(cr.skipped)} unchanged, failed "
          f"{len(cr.failed)}{' (' + ', '.join(cr.failed) + ')' if cr.failed else ''} in {cr.seconds:.1f} s")
    print(f"wrote {out / 'grades.csv'}, {out}/<student>.json, {out / 'feedback'}/<student>/<assignment>.html")
    if args.gradebook is not None:
        from whiteboard.course.gradebook import default_db_url, write_gradebook

        db_url = args.gradebook or default_db_url(submitted.resolve().parent)
        counts = write_gradebook(cr.results, db_url, submitted)
        print(f"gradebook: wrote {plural(counts['submissions'], 'submission')} to {db_url}"
              + (f" ({counts['skipped']} skipped: assignment not in the gradebook)" if counts["skipped"] else ""))
    return 0


def _student_kit(args: argparse.Namespace) -> int:
    from whiteboard.course.kit import build_kit

    try:
        out = build_kit(Path(args.course), Path(args.out), _assignments(Path(args.course) / "autograder",
                                                                         args.assignment))
    except (ValueError, FileExistsError) as e:
        raise UsageError(str(e)) from None
    print(f"wrote the student kit to {out}")
    return 0


def _new(args: argparse.Namespace) -> int:
    from whiteboard.course.new import new_assignment

    try:
        written = new_assignment(Path(args.course), args.assignment,
                                 Path(args.catalog) if args.catalog else None)
    except (KeyError, FileExistsError, FileNotFoundError) as e:
        raise UsageError(str(e).strip("'\"")) from None
    course = Path(args.course).resolve()
    print("wrote\n" + "\n".join(f"  {p.relative_to(course)}" for p in written))
    print(f"next: fill in the TODOs, then `whiteboard generate --assignment {args.assignment}` and "
          f"`pytest tests/test_mutants.py -k {args.assignment}`")
    return 0


def _export_gradescope(args: argparse.Namespace) -> int:
    from whiteboard.course.gradescope import export

    course = Path(args.course)
    if not (course / "autograder").is_dir():
        raise UsageError(f"{course} has no autograder/ folder: run this in the course directory or pass --course")
    print(f"wrote {export(Path(args.out_zip), course)}")
    return 0


# ---- the parser ----------------------------------------------------------------------------------

def _sub(sub, name: str, help_: str, run) -> argparse.ArgumentParser:
    p = sub.add_parser(name, help=help_, description=help_[0].upper() + help_[1:] + ".",
                       epilog=f"example:\n  {EXAMPLES[name]}\n", formatter_class=argparse.RawDescriptionHelpFormatter)
    p.set_defaults(run=run)
    return p


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="whiteboard", description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog="Run `whiteboard COMMAND --help` for a command's options and an example.")
    parser.add_argument("--version", action="version", version=f"whiteboard {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    g = _sub(sub, "grade", "grade one submission: every check, hidden ones included", _grade)
    g.add_argument("submission", help="a folder laid out like release/: <assignment>/<assignment>.ipynb")
    g.add_argument("--json", metavar="OUT", help="write the results (see README, Results) here")
    g.add_argument("--assignment", action="append", metavar="A", help="grade only A (repeatable)")
    g.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")
    g.add_argument("--summary", action="store_true", help="points per function only, no messages")
    g.add_argument("--quiet", action="store_true", help="print nothing (use with --json)")

    c = _sub(sub, "check", "check your saved notebooks with the public checks, as a student", _check)
    c.add_argument("submission", nargs="?", default=".", help="the folder of your notebooks (default: .)")
    c.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")
    c.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")
    c.add_argument("--quiet", action="store_true", help=argparse.SUPPRESS)

    e = _sub(sub, "export", "pack your notebooks into the zip to upload (e.g. to Gradescope)", _export)
    e.add_argument("submission", nargs="?", default=".", help="the folder of your notebooks (default: .)")
    e.add_argument("--out", default="submission.zip", metavar="ZIP", help="the zip to write (default: submission.zip)")
    e.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")
    e.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")

    gc = _sub(sub, "grade-class", "grade nbgrader's submitted/<student>/<assignment>/ tree in parallel: "
              "grades.csv, per-student JSON, feedback pages", _grade_class)
    gc.add_argument("submitted", help="nbgrader's submitted/ folder")
    gc.add_argument("--out", required=True, metavar="OUT",
                    help="where grades.csv, <student>.json and feedback/ go (re-runs skip what is unchanged)")
    gc.add_argument("--workers", type=int, metavar="N", help="grading processes (default: one per core)")
    gc.add_argument("--assignment", action="append", metavar="A", help="grade only A (repeatable)")
    gc.add_argument("--gradebook", nargs="?", const="", metavar="DB_URL",
                    help="also write the scores into nbgrader's gradebook (default: "
                         "sqlite:///<parent of SUBMITTED>/gradebook.db)")
    gc.add_argument("--autograder", metavar="DIR", help="the autograder/ to use (default: found above .)")
    gc.add_argument("--no-progress", action="store_true", help="no progress bar")

    gen = _sub(sub, "generate", "regenerate release/ (nbgrader) and the executed solutions/ from source/", _generate)
    gen.add_argument("--course", default=".", help="the course directory (default: .)")
    gen.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")
    gen.add_argument("--no-execute", action="store_true", help="do not execute the solutions")

    kit = _sub(sub, "student-kit", "the folder to give students: notebooks and public checks, no answers",
               _student_kit)
    kit.add_argument("out", metavar="OUT", help="a new folder for the kit")
    kit.add_argument("--course", default=".", help="the course directory (default: .)")
    kit.add_argument("--assignment", action="append", metavar="A", help="only A (repeatable)")

    nw = _sub(sub, "new", "write the skeleton of a new assignment from its catalogue entry", _new)
    nw.add_argument("assignment", metavar="qNN_slug", help="the assignment's id, as in the catalogue")
    nw.add_argument("--catalog", metavar="PATH", help="the catalogue (default: catalog.md found here or above)")
    nw.add_argument("--course", default=".", help="the course directory (default: .)")

    gs = _sub(sub, "export-gradescope", "package the course as a Gradescope autograder zip", _export_gradescope)
    gs.add_argument("out_zip", metavar="OUT.zip", help="the zip to write")
    gs.add_argument("--course", default=".", help="the course directory (default: .)")
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return args.run(args)
    except UsageError as exc:
        return _fail(str(exc))


if __name__ == "__main__":
    sys.exit(main())

"""Trusted code that runs inside the worker, next to the student's functions.

A harness builds the objects a check needs (a seeded model, a data loader, an instrumented
optimizer), calls the student's code and returns plain data: values, event traces, final weights.
It never holds an expected value: the parent compares what comes back with the reference.

`call` serves every check that only needs "call this function with these arguments". An assignment
whose checks need more has its own module here, named after the assignment.
"""

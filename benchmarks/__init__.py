"""Benchmarks: parameters/MACs/sizes, latency per runtime, accuracy, phone runs over adb, and a report.

Every figure is measured by the command that prints it; every output carries the machine description
(CPU, cores, threads, repeats, torch version) beside the numbers.
"""

"""JUnit XML report: one test case per file with findings (failed on errors), one for the whole run."""

from __future__ import annotations

from itertools import groupby
from xml.etree import ElementTree as ET

from neuroscale.check.model import CheckReport
from neuroscale.check.report.summary import verdict
from neuroscale.findings import Finding, Severity


def _line(finding: Finding) -> str:
    return f"{finding.location}: {finding.severity.value} {finding.rule} {finding.message}" + (
        f" (fix: {finding.fix})" if finding.fix else "")


def render_junit(report: CheckReport) -> str:
    suites = ET.Element("testsuites", name="neuroscale check")
    suite = ET.SubElement(suites, "testsuite", name="neuroscale check")
    cases = 0
    failures = 0
    for file, group in groupby(report.findings, key=lambda f: f.file):
        findings = list(group)
        case = ET.SubElement(suite, "testcase", classname="neuroscale.check", name=file or "(repository)")
        cases += 1
        errors = [f for f in findings if f.severity is Severity.ERROR]
        if errors:
            failures += 1
            failure = ET.SubElement(case, "failure", message=f"{len(errors)} error finding(s)", type=errors[0].rule)
            failure.text = "\n".join(_line(f) for f in errors)
        others = [f for f in findings if f.severity is not Severity.ERROR]
        if others:
            ET.SubElement(case, "system-out").text = "\n".join(_line(f) for f in others)
    overall = ET.SubElement(suite, "testcase", classname="neuroscale.check", name="overall")
    cases += 1
    if report.exit_code:
        failures += 1
        ET.SubElement(overall, "failure", message=verdict(report), type=f"exit-{report.exit_code}")
    suite.set("tests", str(cases))
    suite.set("failures", str(failures))
    suite.set("errors", "0")
    return ET.tostring(suites, encoding="unicode", xml_declaration=True) + "\n"

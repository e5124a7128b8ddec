"""ApplicationSet git `files` generators stamp Applications from the config files of the checkout.

Inputs mirror Argo CD's own: the documented `git-generator-files-discovery` example (cluster-config/*/config.json
deploying guestbook per cluster), the "Git File Generator Globbing" page's layouts (greedy default pathspec vs.
doublestar), and the cases of applicationset/generators/git_test.go (a JSON array file, `invalid json file`,
`values`, `pathParamPrefix`, Go-template path parameters). Fixtures are written from that documented behaviour.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from neuroscale.check.lints import l013_duplicate_objects as l013
from neuroscale.check.lints.appset_files import _go_float, flattened, matched_files
from neuroscale.check.lints.argo import SyncIndex, all_applications
from neuroscale.check.model import CheckOptions
from neuroscale.check.runner import run_check
from neuroscale.findings import Severity

from .helpers import deployment, lint, view_of, write_repo

ARGO = "https://github.com/argoproj/argo-cd.git"
DISCOVERY = "applicationset/examples/git-generator-files-discovery"
GUESTBOOK = {f"{DISCOVERY}/apps/guestbook/deployment.yaml": deployment("guestbook-ui", namespace="")}


def appset(files: str, *, name: str, path: str, server: str = "{{cluster.address}}", namespace: str = "guestbook",
           go: bool = False, more: str = "") -> str:
    """Argo CD's documented files-discovery ApplicationSet, its `files` items, template fields and extra
    generator keys given."""
    return (f"apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: guestbook\n"
            f"  namespace: argocd\nspec:\n  goTemplate: {'true' if go else 'false'}\n  generators:\n  - git:\n"
            f"      repoURL: {ARGO}\n      revision: HEAD\n{more}      files:\n{files}  template:\n"
            f"    metadata:\n      name: '{name}'\n    spec:\n      project: default\n      source:\n"
            f"        repoURL: {ARGO}\n        targetRevision: HEAD\n        path: '{path}'\n      destination:\n"
            f"        server: '{server}'\n        namespace: '{namespace}'\n")


def items(*paths: str, exclude: tuple[str, ...] = ()) -> str:
    return "".join(f"      - path: '{p}'\n" for p in paths) + "".join(
        f"      - path: '{p}'\n        exclude: true\n" for p in exclude)


def cluster(name: str, address: str, **extra: object) -> str:
    """The documented config.json: the cluster, its owner, and sample data."""
    return json.dumps({"aws_account": "123456", "asset_id": "11223344", **extra,
                       "cluster": {"owner": "cluster-admin@company.com", "name": name, "address": address}}, indent=2)


def clusters(**addresses: str) -> dict[str, str]:
    return {f"{DISCOVERY}/cluster-config/engineering/{env}/config.json": cluster(f"engineering-{env}", address)
            for env, address in addresses.items()}


def stamped(files: dict[str, str]) -> dict[str, tuple[str, str, str]]:
    """Generated Application name -> (source path, destination server, destination namespace)."""
    return {app.name: (app.data["spec"]["source"]["path"], app.data["spec"]["destination"]["server"],
                       app.data["spec"]["destination"]["namespace"])
            for app in all_applications(view_of(files)) if app.kind == "Application" and app.path == "appset.yaml"}


DOCUMENTED = appset(items(f"{DISCOVERY}/cluster-config/**/config.json"), name="{{cluster.name}}-guestbook",
                    path=f"{DISCOVERY}/apps/guestbook")


def test_the_documented_files_discovery_example_stamps_one_application_per_cluster() -> None:
    files = {"appset.yaml": DOCUMENTED, **GUESTBOOK, **clusters(dev="https://1.2.3.4", prod="https://1.2.3.5")}
    assert stamped(files) == {
        "engineering-dev-guestbook": (f"{DISCOVERY}/apps/guestbook", "https://1.2.3.4", "guestbook"),
        "engineering-prod-guestbook": (f"{DISCOVERY}/apps/guestbook", "https://1.2.3.5", "guestbook")}
    assert lint(l013.LINT, files) == [], "one directory into two clusters is no collision"


def test_two_config_files_naming_one_cluster_make_two_owners_of_each_object() -> None:
    files = {"appset.yaml": DOCUMENTED, **GUESTBOOK, **clusters(dev="https://1.2.3.4", qa="https://1.2.3.4")}
    messages = {(f.severity, f.message) for f in lint(l013.LINT, files)}
    assert (Severity.ERROR, "Deployment.apps guestbook-ui is managed by 2 Applications (engineering-dev-guestbook, "
                            "engineering-qa-guestbook)") in messages
    assert SyncIndex(view_of(files)).of(f"{DISCOVERY}/apps/guestbook/deployment.yaml")


def test_a_generated_application_collides_with_a_written_one_for_the_same_cluster() -> None:
    written = (f"apiVersion: argoproj.io/v1alpha1\nkind: Application\nmetadata:\n  name: guestbook-by-hand\n"
               f"  namespace: argocd\nspec:\n  project: default\n  source:\n    repoURL: {ARGO}\n"
               f"    path: {DISCOVERY}/apps/guestbook\n  destination:\n    server: https://1.2.3.5\n"
               f"    namespace: guestbook\n")
    files = {"appset.yaml": DOCUMENTED, **GUESTBOOK, **clusters(dev="https://1.2.3.4", prod="https://1.2.3.5"),
             "argocd/guestbook.yaml": written}
    messages = {f.message for f in lint(l013.LINT, files)}
    assert "Deployment.apps guestbook-ui is managed by 2 Applications (engineering-prod-guestbook, " \
           "guestbook-by-hand)" in messages, messages


def test_file_path_parameters_are_those_of_the_file_s_directory() -> None:
    # git_test.go's fasttemplate path parameters: path, path[n], basename, filename (and their normalized forms).
    name = "{{path[0]}}.{{path.basename}}.{{path.filenameNormalized}}"
    files = {"appset.yaml": appset(items("cluster-config/**/*.json"), name=name, path="{{path}}",
                                   server="https://kubernetes.default.svc", namespace="{{path.basenameNormalized}}"),
             "cluster-config/production_eu/Config_A.json": "{}", "cluster-config/staging/config.json": "{}"}
    assert stamped(files) == {
        "cluster-config.production_eu.config-a.json": ("cluster-config/production_eu", "https://kubernetes.default.svc",
                                                       "production-eu"),
        "cluster-config.staging.config.json": ("cluster-config/staging", "https://kubernetes.default.svc", "staging")}


def test_a_file_holding_a_list_stamps_one_application_per_element() -> None:
    # git_test.go "test JSON array": one file, two clusters.
    array = json.dumps([{"cluster": {"name": "production", "address": "https://kubernetes.default.svc"}},
                        {"cluster": {"name": "staging", "address": "https://kubernetes.default.svc"}}])
    files = {"appset.yaml": appset(items("cluster-config/**/config.json"), name="{{cluster.name}}",
                                   path="apps/{{cluster.name}}", namespace="{{path.basename}}"),
             "cluster-config/production/config.json": array}
    assert stamped(files) == {"production": ("apps/production", "https://kubernetes.default.svc", "production"),
                              "staging": ("apps/staging", "https://kubernetes.default.svc", "production")}


def test_go_templates_see_the_file_s_objects_nested_and_path_parameters_under_the_prefix() -> None:
    # git_test.go's goTemplate cases: the object as written, `path` as an object with segments, pathParamPrefix.
    yaml_config = "cluster:\n  name: production\n  address: https://kubernetes.default.svc\nreplicas: 3\n"
    files = {"appset.yaml": appset(
        items("clusters/**/*.yaml"), go=True, more="      pathParamPrefix: config\n",
        name="{{ .cluster.name }}-{{ .config.path.filename }}", path="{{ index .config.path.segments 1 }}/app",
        server="{{ .cluster.address }}", namespace="r{{ .replicas }}-{{ .config.path.basename }}"),
        "clusters/eu/values.yaml": yaml_config}
    assert stamped(files) == {"production-values.yaml": ("eu/app", "https://kubernetes.default.svc", "r3-eu")}


def test_values_are_rendered_with_each_file_s_parameters() -> None:
    # git_test.go: `values.aaa` from a file key, an unknown tag left as written.
    more = "      values:\n        aaa: '{{cluster.owner}}'\n        no-op: '{{ this-does-not-exist }}'\n"
    files = {"appset.yaml": appset(items("cluster-config/**/config.json"), more=more, name="{{cluster.name}}",
                                   path="apps", namespace="{{values.aaa}}"),
             "cluster-config/production/config.json": cluster("production", "https://kubernetes.default.svc")}
    [app] = all_applications(view_of(files))
    assert app.data["spec"]["destination"]["namespace"] == "cluster-admin@company.com"


def test_numbers_read_as_go_prints_json_numbers() -> None:
    # sigs.k8s.io/yaml decodes every number as float64; fasttemplate gets fmt's %v of it.
    files = {"appset.yaml": appset(items("accounts/*.yaml"), name="acct-{{account}}", path="apps",
                                   server="https://kubernetes.default.svc", namespace="n-{{port}}-{{ratio}}"),
             "accounts/a.yaml": "account: 123456789012\nport: 8080\nratio: 0.5\n"}
    assert stamped(files) == {"acct-1.23456789012e+11": ("apps", "https://kubernetes.default.svc", "n-8080-0.5")}


@pytest.mark.parametrize(("number", "printed"), [
    (0, "0"), (1, "1"), (100000, "100000"), (1000000, "1e+06"), (1234567, "1.234567e+06"), (0.0001, "0.0001"),
    (0.00001, "1e-05"), (-2.5e-7, "-2.5e-07"), (1e21, "1e+21"), (3.0, "3"),
])
def test_go_float_formatting(number: float, printed: str) -> None:
    assert _go_float(number) == printed


def test_flattening_joins_keys_with_dots_and_lists_by_index() -> None:
    assert flattened({"a": {"b": [1, {"c": None}], "d": True}, "e": {}}) == {
        "a.b.0": "1", "a.b.1.c": "<nil>", "a.d": "true"}


LAYOUT = ["cluster-charts/cluster1/mychart/values.yaml",
          "cluster-charts/cluster1/mychart/charts/mysubchart/values.yaml",
          "cluster-charts/cluster1/myotherchart/values.yaml", "some-path/a.yaml", "some-path/deep/b.yaml",
          "config.json", "config/x.json"]


@pytest.mark.parametrize(("pattern", "doublestar", "matched"), [
    # The globbing page: the default (git ls-files pathspec) is greedy, `*` crosses `/`.
    ("cluster-charts/*/*/values.yaml", False, LAYOUT[:3]),
    ("cluster-charts/*/*/values.yaml", True, [LAYOUT[0], LAYOUT[2]]),
    ("some-path/*.yaml", False, ["some-path/a.yaml", "some-path/deep/b.yaml"]),
    ("some-path/*.yaml", True, ["some-path/a.yaml"]),
    ("**/values.yaml", True, LAYOUT[:3]),
    ("cluster-charts/**/mychart/values.yaml", True, [LAYOUT[0]]),
    ("some-path/{a,c}.yaml", True, ["some-path/a.yaml"]),
    ("config.json", False, ["config.json"]), ("config", False, ["config/x.json"]),
    ("some-path/?.yaml", False, ["some-path/a.yaml"]), ("some-path/[ab].yaml", True, ["some-path/a.yaml"]),
    ("some-path/[!a].yaml", False, []), ("some-path/[^b].yaml", True, ["some-path/a.yaml"]),
])
def test_patterns_match_as_argo_cd_lists_files(pattern: str, doublestar: bool, matched: list[str]) -> None:
    assert matched_files([{"path": pattern}], LAYOUT, doublestar=doublestar) == sorted(matched)


def test_the_new_globbing_is_read_from_argo_cd_s_params_config_map_in_the_repository() -> None:
    charts = {p: f"name: {p.split('/')[-2]}\n" for p in LAYOUT[:3]}
    appset_ = appset(items("cluster-charts/*/*/values.yaml"), name="{{name}}", path="{{path}}",
                     server="https://kubernetes.default.svc")
    assert sorted(stamped({"appset.yaml": appset_, **charts})) == ["mychart", "myotherchart", "mysubchart"]
    params = ("apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: argocd-cmd-params-cm\n  namespace: argocd\n"
              "data:\n  applicationsetcontroller.enable.new.git.file.globbing: \"true\"\n")
    assert sorted(stamped({"appset.yaml": appset_, **charts, "argocd/params.yaml": params})) == [
        "mychart", "myotherchart"]


def test_exclude_removes_files_an_include_pattern_matched() -> None:
    files = {"appset.yaml": appset(items(f"{DISCOVERY}/cluster-config/**/config.json",
                                         exclude=(f"{DISCOVERY}/cluster-config/engineering/prod/*",)),
                                   name="{{cluster.name}}-guestbook", path=f"{DISCOVERY}/apps/guestbook"),
             **clusters(dev="https://1.2.3.4", prod="https://1.2.3.5")}
    assert sorted(stamped(files)) == ["engineering-dev-guestbook"]


def test_an_empty_file_gives_its_path_parameters_alone() -> None:
    files = {"appset.yaml": appset(items("envs/*/config.yaml"), name="{{path.basename}}", path="{{path}}",
                                   server="https://kubernetes.default.svc"), "envs/dev/config.yaml": ""}
    assert stamped(files) == {"dev": ("envs/dev", "https://kubernetes.default.svc", "guestbook")}


def test_a_pattern_that_may_match_files_check_does_not_read_is_not_followed() -> None:
    files = {"appset.yaml": appset(items("envs/*/config"), name="{{path.basename}}", path="{{path}}"),
             "envs/dev/config.yaml": "a: b\n"}
    assert stamped(files) == {}


def test_a_matrix_of_config_files_and_a_list_stamps_each_pair() -> None:
    # Argo CD's matrix documentation: git files (clusters) x list (apps), the list rendered with the file's keys.
    matrix = (f"  - matrix:\n      generators:\n      - git:\n          repoURL: {ARGO}\n          revision: HEAD\n"
              f"          files:\n          - path: 'clusters/*/config.json'\n      - list:\n          elements:\n"
              f"          - app: guestbook\n            ns: '{{{{cluster.name}}}}-guestbook'\n")
    text = (f"apiVersion: argoproj.io/v1alpha1\nkind: ApplicationSet\nmetadata:\n  name: m\n  namespace: argocd\n"
            f"spec:\n  generators:\n{matrix}  template:\n    metadata:\n      name: '{{{{cluster.name}}}}-{{{{app}}}}'\n"
            f"    spec:\n      project: default\n      source:\n        repoURL: {ARGO}\n        path: 'apps/{{{{app}}}}'\n"
            f"      destination:\n        server: '{{{{cluster.address}}}}'\n        namespace: '{{{{ns}}}}'\n")
    files = {"appset.yaml": text, "clusters/a/config.json": cluster("a", "https://a"),
             "clusters/b/config.json": cluster("b", "https://b")}
    assert stamped(files) == {"a-guestbook": ("apps/guestbook", "https://a", "a-guestbook"),
                              "b-guestbook": ("apps/guestbook", "https://b", "b-guestbook")}


@pytest.mark.parametrize(("content", "line", "reason"), [
    ("invalid json file", 1, "it holds a string, not an object or a list of objects"),  # git_test.go's own case
    ('{\n  "cluster": {\n    "name": "qa"\n    "address": "https://1.2.3.6"\n  }\n}\n', 4,
     "YAML does not parse: did not find expected ',' or '}'"),
    ('[{"cluster": {"name": "qa"}}, "qa"]', 1, "it holds a list with an item that is not an object, not an "
                                                "object or a list of objects"),
])
def test_an_unreadable_config_file_is_reported_where_it_is_and_fails_the_check(
        tmp_path: Path, content: str, line: int, reason: str) -> None:
    qa = f"{DISCOVERY}/cluster-config/engineering/qa/config.json"
    write_repo(tmp_path, {"appset.yaml": DOCUMENTED, **GUESTBOOK, **clusters(dev="https://1.2.3.4"), qa: content})
    report = run_check(tmp_path, options=CheckOptions())
    [found] = [f for f in report.findings if f.rule == l013.ID]
    assert (found.severity, found.file, found.line) == (Severity.ERROR, qa, line)
    assert found.message == (f"ApplicationSet guestbook (appset.yaml) reads this file with its git files generator "
                             f"and Argo CD cannot: {reason}; Argo CD generates none of its Applications, and which "
                             "objects they would own is not checked")
    assert report.exit_code != 0, "no green while ownership is unknown"
    assert [a.name for a in SyncIndex(view_of({"appset.yaml": DOCUMENTED, **clusters(dev="x"), qa: content}))
            .applications] == [], "Argo CD stops the whole set: none of its Applications is claimed"


def test_a_change_adding_a_set_that_reads_an_unreadable_file_is_not_green(tmp_path: Path) -> None:
    # The broken file is old; the pull request adds the ApplicationSet that makes Argo CD read it.
    from .helpers import git

    qa = f"{DISCOVERY}/cluster-config/engineering/qa/config.json"
    write_repo(tmp_path, {**GUESTBOOK, **clusters(dev="https://1.2.3.4"), qa: "invalid json file"})
    git(tmp_path, "init", "-q", "-b", "main")
    git(tmp_path, "add", "-A")
    git(tmp_path, "commit", "-qm", "base")
    write_repo(tmp_path, {"appset.yaml": DOCUMENTED})
    report = run_check(tmp_path, base="main", options=CheckOptions())
    assert [(f.file, f.line) for f in report.findings if f.rule == l013.ID] == [(qa, 1)]
    assert report.exit_code != 0

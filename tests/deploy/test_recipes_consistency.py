"""The recipes cannot drift from greenh2: every greenh2 command line in deploy/ parses with the
real CLI (`parse_config`), and ports, health paths and timeouts in the Dockerfile, the Kubernetes
manifests, the systemd units and the balancer configs agree with what that command line sets.
Images are not built here (no container engine): this is the check they get."""
import glob
import json
import os
import re
import shlex
from urllib.parse import urlparse

import pytest
import yaml

from greenh2.config import FIELDS, Config
from greenh2.errors import ConfigError
from greenh2.server.cli import parse_config

from .conftest import DEPLOY

CONTAINERS = os.path.join(DEPLOY, "containers")
K8S = os.path.join(CONTAINERS, "kubernetes")


@pytest.fixture(autouse=True)
def clean_env(monkeypatch):
    for key in list(os.environ):
        if key.startswith("GREENH2_"):
            monkeypatch.delenv(key)


def config_of(argv, where):
    """parse_config on a recipe's greenh2 arguments; argparse's exit becomes a readable failure."""
    try:
        return parse_config(list(argv))
    except ConfigError as exc:
        pytest.fail("%s: %s: %s" % (where, shlex.join(argv), exc))
    except SystemExit:
        pytest.fail("%s: not a valid greenh2 command line: %s" % (where, shlex.join(argv)))


def read(path):
    with open(path) as f:
        return f.read()


def port_of(bind):
    return int(bind.rsplit(":", 1)[1])


# --- every greenh2 command line written anywhere in deploy/ -------------------------------------

# `greenh2 [flags] MODULE:CALLABLE` (a bind like 0.0.0.0:8000 cannot pass for the app)
COMMAND_RE = re.compile(r"(?:^|[\s#$`/])greenh2 ((?:-[^\n`]*?\s)?[A-Za-z_][\w.]*:[A-Za-z_]\w*)"
                        r"(?=$|[\s`\"])", re.M)


def recipe_command_lines():
    found = []
    for path in sorted(glob.glob(os.path.join(DEPLOY, "**", "*"), recursive=True)):
        if os.path.isdir(path) or path.endswith((".py", ".pyc")):
            continue
        for m in COMMAND_RE.finditer(read(path)):
            found.append((os.path.relpath(path, DEPLOY), m.group(1)))
    return found


def test_every_greenh2_command_line_in_deploy_is_valid(monkeypatch):
    lines = recipe_command_lines()
    files = {f for f, _ in lines}
    # the recipes that document a backend command line: if one disappears, the regex broke
    assert {"haproxy/haproxy.cfg", "caddy/Caddyfile", "nginx/greenh2.conf",
            "systemd/greenh2.service"} <= files, files
    for where, text in lines:
        argv = shlex.split(text)
        monkeypatch.chdir(os.path.join(DEPLOY, os.path.dirname(where)))  # --config FILE beside it
        assert config_of(argv, where).app == argv[-1] and ":" in argv[-1], (where, text)


OTHER_TOOLS_FLAGS = {"--now", "--http2", "--http2-prior-knowledge", "--socket", "--backend",
                     "--stop", "--start", "--servers", "--drain-timeout", "--up-timeout",
                     "--use-http2", "--stop-timeout", "--rm"}


def test_every_flag_named_in_the_deploy_docs_is_a_config_option():
    """`--foo` in the READMEs is a Config option, or another tool's flag named in the list above."""
    known = {"--" + n.replace("_", "-") for n in FIELDS} | {"--no-" + n.replace("_", "-") for n in FIELDS}
    known |= {"--config", "--version", "--help"} | OTHER_TOOLS_FLAGS
    docs = glob.glob(os.path.join(DEPLOY, "**", "README.md"), recursive=True)
    assert len(docs) >= 6, docs
    for path in docs:
        for flag in re.findall(r"(?<![\w-])--[a-z][a-z0-9-]+", read(path)):
            assert flag in known, "%s: %s is not a greenh2 option" % (os.path.relpath(path, DEPLOY), flag)


# --- systemd -------------------------------------------------------------------------------------

def unit_value(text, key):
    return [line.split("=", 1)[1] for line in text.splitlines() if line.startswith(key + "=")]


def test_systemd_stop_timeout_covers_drain_and_graceful_timeout():
    text = read(os.path.join(DEPLOY, "systemd", "greenh2.service"))
    argv = shlex.split(unit_value(text, "ExecStart")[0])
    cfg = config_of(argv[1:], "greenh2.service")
    assert cfg.workers > 1 and cfg.health_path
    stop = float(unit_value(text, "TimeoutStopSec")[0])
    assert stop > cfg.drain_delay + cfg.graceful_timeout + 5, "5: the master's reaping margin"
    assert unit_value(text, "Type") == ["notify"]
    assert unit_value(text, "KillMode") == ["mixed"]  # a second SIGTERM would cut the drain short
    assert unit_value(text, "ExecReload") == ["/bin/kill -HUP $MAINPID"]
    for hardening in ("NoNewPrivileges", "ProtectSystem", "PrivateTmp", "DynamicUser"):
        assert unit_value(text, hardening), hardening
    toml = Config.load({}, {}, os.path.join(DEPLOY, "systemd", "greenh2.toml"))
    assert toml.health_path == cfg.health_path and toml.drain_delay == cfg.drain_delay


# --- balancers -----------------------------------------------------------------------------------

def _backend_config(relpath):
    lines = [t for f, t in recipe_command_lines() if f == relpath]
    assert lines, relpath
    return config_of(shlex.split(lines[0]), relpath)


def test_balancers_check_the_health_path_their_backends_serve():
    hap = read(os.path.join(DEPLOY, "haproxy", "haproxy.cfg"))
    assert "uri %s " % _backend_config("haproxy/haproxy.cfg").health_path in hap
    assert re.search(r"default-server proto h2 check", hap)
    assert "alpn h2,http/1.1" in hap
    caddy = read(os.path.join(DEPLOY, "caddy", "Caddyfile"))
    assert "health_uri %s\n" % _backend_config("caddy/Caddyfile").health_path in caddy
    assert re.search(r"versions h2c\n", caddy)
    nginx = read(os.path.join(DEPLOY, "nginx", "greenh2.conf"))
    cfg = _backend_config("nginx/greenh2.conf")
    assert "location = %s " % cfg.health_path in nginx
    assert "server %s;" % cfg.bind[0] in nginx


# --- container image and Kubernetes --------------------------------------------------------------

def dockerfile():
    """Instructions as (KEYWORD, argument text), continuation lines joined."""
    text = re.sub(r"\\\n\s*", " ", read(os.path.join(CONTAINERS, "Dockerfile")))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            key, _, rest = line.partition(" ")
            out.append((key.upper(), rest.strip()))
    return out


def docker(instr, key):
    return [rest for k, rest in instr if k == key]


def image_argv():
    instr = dockerfile()
    entry, cmd = docker(instr, "ENTRYPOINT"), docker(instr, "CMD")
    assert len(entry) == 1 and len(cmd) == 1
    return json.loads(entry[0]), json.loads(cmd[0])  # exec form: JSON arrays, or this fails


def test_dockerfile():
    instr = dockerfile()
    assert "slim" in docker(instr, "FROM")[0]
    user = docker(instr, "USER")
    assert user and user[-1] not in ("root", "0")
    assert docker(instr, "STOPSIGNAL") == ["SIGTERM"]
    entry, cmd = image_argv()
    assert entry[0] == "greenh2"
    cfg = config_of(entry[1:] + cmd, "Dockerfile")
    port = port_of(cfg.bind[0])
    assert str(port) in docker(instr, "EXPOSE")[0].split()
    check = docker(instr, "HEALTHCHECK")[0]
    url = urlparse(re.search(r"http://[^'\" ]+", check).group(0))
    assert (url.port, url.path) == (port, cfg.health_path), check
    assert cfg.workers == 1  # one process per container: scale with replicas


def manifests():
    docs = {}
    for path in glob.glob(os.path.join(K8S, "*.yaml")):
        for doc in yaml.safe_load_all(read(path)):
            docs[doc["kind"]] = doc
    return docs


def test_kubernetes_manifests_agree_with_the_image_and_config():
    docs = manifests()
    assert {"Deployment", "Service", "PodDisruptionBudget", "HorizontalPodAutoscaler"} <= set(docs)
    dep = docs["Deployment"]
    pod = dep["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    entry, _ = image_argv()
    cfg = config_of(entry[1:] + container["args"], "deployment.yaml")
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports["http"] == port_of(cfg.bind[0])
    assert ports["metrics"] == port_of(cfg.metrics_bind)
    assert container["readinessProbe"]["httpGet"] == {"path": "/readyz", "port": "metrics"}
    assert container["livenessProbe"]["httpGet"] == {"path": "/healthz", "port": "metrics"}
    pre_stop = container["lifecycle"]["preStop"]["exec"]["command"]
    assert pre_stop[0] == "sleep"
    assert pod["terminationGracePeriodSeconds"] > float(pre_stop[1]) + cfg.drain_delay + cfg.graceful_timeout
    assert pod["securityContext"]["runAsNonRoot"] is True
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert dep["spec"]["selector"]["matchLabels"].items() <= labels.items()
    svc = docs["Service"]
    assert svc["spec"]["selector"].items() <= labels.items()
    http = next(p for p in svc["spec"]["ports"] if p["name"] == "http")
    assert http["targetPort"] == "http" and http["appProtocol"] == "kubernetes.io/h2c"
    assert docs["PodDisruptionBudget"]["spec"]["selector"]["matchLabels"].items() <= labels.items()
    hpa = docs["HorizontalPodAutoscaler"]["spec"]
    assert hpa["scaleTargetRef"]["kind"] == "Deployment"
    assert hpa["scaleTargetRef"]["name"] == dep["metadata"]["name"]
    assert hpa["minReplicas"] >= 2  # with the PDB's maxUnavailable 1, a drain never empties it


def test_kubernetes_manifests_parse_and_name_their_kinds():
    """The part that needs no metrics branch: YAML parses, kinds and API versions as expected."""
    docs = manifests()
    assert docs["Deployment"]["apiVersion"] == "apps/v1"
    assert docs["HorizontalPodAutoscaler"]["apiVersion"] == "autoscaling/v2"
    assert docs["PodDisruptionBudget"]["apiVersion"] == "policy/v1"
    assert docs["Service"]["spec"]["ports"][0]["appProtocol"] == "kubernetes.io/h2c"
